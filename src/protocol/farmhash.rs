//! Nim's `hash(string)`: FarmHash *Fingerprint64* (the "na" variant of `Hash64` in the
//! reference C++ FarmHash), computed over the raw bytes and read as a signed 64-bit value.
//!
//! nim-sds derives every bloom filter bit position from this hash, so it must agree with
//! Nim bit for bit for every input length. It is written from the published algorithm
//! rather than taken from the `farmhash` crate, whose `fingerprint64` disagrees with Nim for
//! some inputs longer than 64 bytes, among them lengths that are multiples of 64 (its
//! handling of the final block differs from the reference `end`/`last64` logic reproduced
//! here).
//!
//! Everything here is allocation-free: words are read little-endian straight out of the
//! input slice.

const K0: u64 = 0xc3a5_c85c_97cb_3127;
const K1: u64 = 0xb492_b66f_be98_f273;
const K2: u64 = 0x9ae1_6a3b_2f90_404f;

/// FarmHash Fingerprint64 of `bytes`.
pub fn fingerprint64(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    if len <= 16 {
        hash_len_0_to_16(bytes)
    } else if len <= 32 {
        hash_len_17_to_32(bytes)
    } else if len <= 64 {
        hash_len_33_to_64(bytes)
    } else {
        hash_long(bytes)
    }
}

/// Nim's `hash(string)`: Fingerprint64 read as i64.
pub fn nim_hash(bytes: &[u8]) -> i64 {
    fingerprint64(bytes) as i64
}

/// |nim_hash(bytes)| as u64 (unsigned abs, so i64::MIN maps to 2^63 instead of overflowing).
pub(crate) fn nim_hash_abs(bytes: &[u8]) -> u64 {
    nim_hash(bytes).unsigned_abs()
}

/// Little-endian u64 at `at`. Callers guarantee `at + 8 <= s.len()` by the length
/// dispatch in [`fingerprint64`]; the fallback of 0 is unreachable and only avoids a panic
/// path.
#[inline(always)]
fn fetch64(s: &[u8], at: usize) -> u64 {
    match s.get(at..at + 8) {
        Some(w) => {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            u64::from_le_bytes(b)
        }
        None => 0,
    }
}

/// Little-endian u32 at `at`, widened to u64 (same guarantee as [`fetch64`]).
#[inline(always)]
fn fetch32(s: &[u8], at: usize) -> u64 {
    match s.get(at..at + 4) {
        Some(w) => {
            let mut b = [0u8; 4];
            b.copy_from_slice(w);
            u64::from(u32::from_le_bytes(b))
        }
        None => 0,
    }
}

#[inline(always)]
fn shift_mix(v: u64) -> u64 {
    v ^ (v >> 47)
}

/// The 128-to-64 mixing step shared by every length class.
#[inline(always)]
fn hash_len_16(u: u64, v: u64, mul: u64) -> u64 {
    let a = shift_mix((u ^ v).wrapping_mul(mul));
    let b = shift_mix((v ^ a).wrapping_mul(mul));
    b.wrapping_mul(mul)
}

fn hash_len_0_to_16(s: &[u8]) -> u64 {
    let len = s.len();
    let len64 = len as u64;
    if len >= 8 {
        let mul = K2.wrapping_add(len64.wrapping_mul(2));
        let a = fetch64(s, 0).wrapping_add(K2);
        let b = fetch64(s, len - 8);
        let c = b.rotate_right(37).wrapping_mul(mul).wrapping_add(a);
        let d = a.rotate_right(25).wrapping_add(b).wrapping_mul(mul);
        return hash_len_16(c, d, mul);
    }
    if len >= 4 {
        let mul = K2.wrapping_add(len64.wrapping_mul(2));
        let a = fetch32(s, 0);
        return hash_len_16(len64.wrapping_add(a << 3), fetch32(s, len - 4), mul);
    }
    match s {
        [] => K2,
        [first, ..] => {
            let a = u32::from(*first);
            let b = u32::from(s[len >> 1]);
            let c = u32::from(s[len - 1]);
            let y = a.wrapping_add(b << 8);
            let z = (len as u32).wrapping_add(c << 2);
            shift_mix(u64::from(y).wrapping_mul(K2) ^ u64::from(z).wrapping_mul(K0))
                .wrapping_mul(K2)
        }
    }
}

fn hash_len_17_to_32(s: &[u8]) -> u64 {
    let len = s.len();
    let mul = K2.wrapping_add((len as u64).wrapping_mul(2));
    let a = fetch64(s, 0).wrapping_mul(K1);
    let b = fetch64(s, 8);
    let c = fetch64(s, len - 8).wrapping_mul(mul);
    let d = fetch64(s, len - 16).wrapping_mul(K2);
    hash_len_16(
        a.wrapping_add(b)
            .rotate_right(43)
            .wrapping_add(c.rotate_right(30))
            .wrapping_add(d),
        a.wrapping_add(b.wrapping_add(K2).rotate_right(18))
            .wrapping_add(c),
        mul,
    )
}

fn hash_len_33_to_64(s: &[u8]) -> u64 {
    let len = s.len();
    let mul = K2.wrapping_add((len as u64).wrapping_mul(2));
    let a = fetch64(s, 0).wrapping_mul(K2);
    let b = fetch64(s, 8);
    let c = fetch64(s, len - 8).wrapping_mul(mul);
    let d = fetch64(s, len - 16).wrapping_mul(K2);
    let y = a
        .wrapping_add(b)
        .rotate_right(43)
        .wrapping_add(c.rotate_right(30))
        .wrapping_add(d);
    let z = hash_len_16(
        y,
        a.wrapping_add(b.wrapping_add(K2).rotate_right(18))
            .wrapping_add(c),
        mul,
    );
    let e = fetch64(s, 16).wrapping_mul(mul);
    let f = fetch64(s, 24);
    let g = y.wrapping_add(fetch64(s, len - 32)).wrapping_mul(mul);
    let h = z.wrapping_add(fetch64(s, len - 24)).wrapping_mul(mul);
    hash_len_16(
        e.wrapping_add(f)
            .rotate_right(43)
            .wrapping_add(g.rotate_right(30))
            .wrapping_add(h),
        e.wrapping_add(f.wrapping_add(a).rotate_right(18))
            .wrapping_add(g),
        mul,
    )
}

/// Two 64-bit lanes mixed from the 32 bytes at `at` and two seeds.
#[inline(always)]
fn weak_hash_len_32_with_seeds(s: &[u8], at: usize, a: u64, b: u64) -> (u64, u64) {
    let w = fetch64(s, at);
    let x = fetch64(s, at + 8);
    let y = fetch64(s, at + 16);
    let z = fetch64(s, at + 24);
    let a = a.wrapping_add(w);
    let b = b.wrapping_add(a).wrapping_add(z).rotate_right(21);
    let c = a;
    let a = a.wrapping_add(x).wrapping_add(y);
    let b = b.wrapping_add(a.rotate_right(44));
    (a.wrapping_add(z), b.wrapping_add(c))
}

/// Inputs longer than 64 bytes: whole 64-byte blocks from the start up to
/// `end = ((len - 1) / 64) * 64`, then one final mix over the last 64 bytes of the input,
/// which start at `end + ((len - 1) & 63) - 63` (so for a length that is a multiple of 64
/// the final block is the last block itself, not an extra all-new block).
fn hash_long(s: &[u8]) -> u64 {
    const SEED: u64 = 81;
    let len = s.len();
    let mut x = SEED;
    let mut y = SEED.wrapping_mul(K1).wrapping_add(113);
    let mut z = shift_mix(y.wrapping_mul(K2).wrapping_add(113)).wrapping_mul(K2);
    let mut v = (0u64, 0u64);
    let mut w = (0u64, 0u64);
    x = x.wrapping_mul(K2).wrapping_add(fetch64(s, 0));

    // Blocks start at 0, 64, ... up to (but excluding) `end`; there is always at least one.
    let end = ((len - 1) / 64) * 64;
    let last64 = end + ((len - 1) & 63) - 63;
    let mut p = 0usize;
    loop {
        x = x
            .wrapping_add(y)
            .wrapping_add(v.0)
            .wrapping_add(fetch64(s, p + 8))
            .rotate_right(37)
            .wrapping_mul(K1);
        y = y
            .wrapping_add(v.1)
            .wrapping_add(fetch64(s, p + 48))
            .rotate_right(42)
            .wrapping_mul(K1);
        x ^= w.1;
        y = y.wrapping_add(v.0).wrapping_add(fetch64(s, p + 40));
        z = z.wrapping_add(w.0).rotate_right(33).wrapping_mul(K1);
        v = weak_hash_len_32_with_seeds(s, p, v.1.wrapping_mul(K1), x.wrapping_add(w.0));
        w = weak_hash_len_32_with_seeds(
            s,
            p + 32,
            z.wrapping_add(w.1),
            y.wrapping_add(fetch64(s, p + 16)),
        );
        std::mem::swap(&mut z, &mut x);
        p += 64;
        if p == end {
            break;
        }
    }

    let mul = K1.wrapping_add((z & 0xff) << 1);
    let p = last64;
    w.0 = w.0.wrapping_add(((len - 1) & 63) as u64);
    v.0 = v.0.wrapping_add(w.0);
    w.0 = w.0.wrapping_add(v.0);
    x = x
        .wrapping_add(y)
        .wrapping_add(v.0)
        .wrapping_add(fetch64(s, p + 8))
        .rotate_right(37)
        .wrapping_mul(mul);
    y = y
        .wrapping_add(v.1)
        .wrapping_add(fetch64(s, p + 48))
        .rotate_right(42)
        .wrapping_mul(mul);
    x ^= w.1.wrapping_mul(9);
    y = y
        .wrapping_add(v.0.wrapping_mul(9))
        .wrapping_add(fetch64(s, p + 40));
    z = z.wrapping_add(w.0).rotate_right(33).wrapping_mul(mul);
    v = weak_hash_len_32_with_seeds(s, p, v.1.wrapping_mul(mul), x.wrapping_add(w.0));
    w = weak_hash_len_32_with_seeds(
        s,
        p + 32,
        z.wrapping_add(w.1),
        y.wrapping_add(fetch64(s, p + 16)),
    );
    std::mem::swap(&mut z, &mut x);
    hash_len_16(
        hash_len_16(v.0, w.0, mul)
            .wrapping_add(shift_mix(y).wrapping_mul(K0))
            .wrapping_add(z),
        hash_len_16(v.1, w.1, mul).wrapping_add(x),
        mul,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input bytes of the generated vectors in fixtures/nim-sds/hash.json for lengths up
    /// to 300: byte `j` of the length-`n` input is `7n + 11 + 131j` (mod 256).
    fn short_input(n: usize) -> Vec<u8> {
        (0..n).map(|j| (7 * n + 11 + 131 * j) as u8).collect()
    }

    /// Input bytes of the long vectors (511, 512, 1000, 4096): byte `j` is
    /// `(3 + 17j) mod 251`.
    fn long_input(n: usize) -> Vec<u8> {
        (0..n).map(|j| ((3 + 17 * j) % 251) as u8).collect()
    }

    #[test]
    fn ascii_vectors_from_nim() {
        // Nim 2.2.6 `hash(string)` values (fixtures/nim-sds/hash.json).
        let cases: [(&str, i64); 9] = [
            ("", -7286425919675154353),
            ("a", -5528939962900187677),
            ("ab", -6157143815960550114),
            ("abc", 2640714258260161385),
            ("abcd", 1897425971756105985),
            ("msg-1", 7995000676772511300),
            ("msg-1 b", -6138618504618002191),
            ("test-msg-1", 7367732934273318457),
            ("Lorem ipsum dolor sit amet", -2255415990881868049),
        ];
        for (input, want) in cases {
            assert_eq!(nim_hash(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn generated_vectors_from_nim_cover_every_length_class() {
        // 17..32, 33..64, >64, and the multiples of 64 the `farmhash` crate gets wrong.
        let cases: [(usize, i64); 11] = [
            (17, 842520341903962172),
            (33, 9205362373894779893),
            (64, 4064107901202017379),
            (65, -8997584417689223138),
            (126, -104553227840944516),
            (128, -6534459149306102373),
            (190, -3444849386139635529),
            (192, 4868286063032701683),
            (254, 4045895479397560319),
            (256, -8547008733789209656),
            (300, 3663538074896994845),
        ];
        for (n, want) in cases {
            assert_eq!(nim_hash(&short_input(n)), want, "length {n}");
        }
        let long: [(usize, i64); 4] = [
            (511, 34318826603860432),
            (512, -7242285183728363269),
            (1000, -1552304705218943963),
            (4096, -704670875221774485),
        ];
        for (n, want) in long {
            assert_eq!(nim_hash(&long_input(n)), want, "length {n}");
        }
    }

    #[test]
    fn abs_is_unsigned_magnitude() {
        let h = nim_hash(b"a");
        assert!(h < 0);
        assert_eq!(nim_hash_abs(b"a"), 5528939962900187677);
        assert_eq!(nim_hash_abs(b"abc"), 2640714258260161385);
        assert_eq!(fingerprint64(b"a") as i64, h);
    }

    #[test]
    fn first_and_last_byte_matter_around_block_boundaries() {
        for len in [1usize, 16, 17, 32, 33, 64, 65, 128, 129, 192, 256] {
            let mut a = vec![0x41u8; len];
            let h1 = fingerprint64(&a);
            a[len - 1] ^= 1;
            assert_ne!(h1, fingerprint64(&a), "len {len}");
            a[len - 1] ^= 1;
            a[0] ^= 2;
            assert_ne!(h1, fingerprint64(&a), "len {len}");
        }
    }
}
