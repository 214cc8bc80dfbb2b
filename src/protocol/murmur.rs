//! Nim's `hash(string)` as Nim's *JavaScript* backend computes it: the hash `@waku/sds`
//! derives its bloom filter bit positions from (`dist/nim_hashn/nim_hashn.mjs`, Nim's
//! `hashN` compiled to JavaScript). Nim's C backend, and so nim-sds, uses FarmHash
//! ([`super::farmhash`]); the JavaScript backend uses MurmurHash3 (x86, 32-bit, seed 0),
//! read as a signed 32-bit value.
//!
//! The input is not the UTF-8 bytes: `@waku/sds` hashes `Array.from(id).map(c =>
//! c.charCodeAt(0))`, one UTF-16 code unit per code point (the high surrogate of an
//! astral one), each OR-ed whole into the 32-bit block as Nim's generated code does. For
//! ASCII ids (every id `@waku/sds` makes is hex) that is the bytes. The length mixed in
//! at the end is the number of code points. Allocation-free.

/// `|hash(id)|` as `@waku/sds` computes it (0 ..= 2^31).
pub(crate) fn nim_js_hash_abs(id: &str) -> u64 {
    u64::from(murmur3_units(units(id)).unsigned_abs())
}

/// `|hash(id ++ suffix)|`, the hash of an id followed by an ASCII suffix.
pub(crate) fn nim_js_hash_abs_with_suffix(id: &str, suffix: &str) -> u64 {
    u64::from(murmur3_units(units(id).chain(units(suffix))).unsigned_abs())
}

/// The code units `@waku/sds` hashes for `s`.
fn units(s: &str) -> impl Iterator<Item = u32> + '_ {
    s.chars().map(|c| {
        let mut buf = [0u16; 2];
        u32::from(c.encode_utf16(&mut buf)[0])
    })
}

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn mix_k1(k1: u32) -> u32 {
    k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

/// MurmurHash3 x86_32 (seed 0) over `units`, each block built as
/// `((u3 << 8 | u2) << 8 | u1) << 8 | u0` in 32 bits (bytes little-endian for ASCII).
fn murmur3_units(units: impl Iterator<Item = u32>) -> i32 {
    let mut h1: u32 = 0;
    let mut len: u32 = 0;
    let mut block = [0u32; 4];
    let mut filled = 0;
    for unit in units {
        block[filled] = unit;
        filled += 1;
        len = len.wrapping_add(1);
        if filled == 4 {
            h1 ^= mix_k1(pack(&block));
            h1 = h1.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
            filled = 0;
        }
    }
    h1 ^= mix_k1(pack(&block[..filled]));
    h1 ^= len;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^= h1 >> 16;
    h1 as i32
}

/// The block (or tail) word: the last unit first, each earlier one OR-ed in after a shift.
fn pack(units: &[u32]) -> u32 {
    units.iter().rev().fold(0u32, |k1, &u| (k1 << 8) | u)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hashN(s, 0, 2147483647)` and `hashN(s + " b", 0, 2147483647)` from
    /// `@waku/sds` 0.0.8 under Node 20, i.e. `|hash| mod (2^31 - 1)`.
    const VECTORS: &[(&str, u64, u64)] = &[
        ("", 0, 547686008),
        ("a", 1009084850, 1033158525),
        ("ab", 1681926305, 1498527058),
        ("abc", 1277324294, 1760712058),
        ("abcd", 1139631978, 1654040429),
        ("abcde", 392455434, 1651819362),
        ("dummy", 1261171776, 1216360975),
        ("rs-0", 647170528, 993761421),
        (
            "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4",
            1517697339,
            447560485,
        ),
        ("héllo", 1069087607, 1517463960),
        ("日本", 2101216076, 898856171),
        ("😀x", 2085048379, 1830985825),
    ];

    #[test]
    fn agrees_with_waku_sds_nim_hashn() {
        for &(s, a, b) in VECTORS {
            assert_eq!(nim_js_hash_abs(s) % 2_147_483_647, a, "{s:?}");
            assert_eq!(
                nim_js_hash_abs_with_suffix(s, " b") % 2_147_483_647,
                b,
                "{s:?} b"
            );
        }
    }
}
