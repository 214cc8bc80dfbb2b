//! The nim-sds bloom filter, bit-compatible: same sizing, same bit positions, same
//! serialized bytes (the payload of an SdsMessage's field 6).
//!
//! # Sizing
//! For `(capacity, error_rate)`: `bits_per_elem = ceil(-ln(err) / ln(2)^2)`,
//! `k = round(ln(2) * bits_per_elem)`, `m_bits = capacity * bits_per_elem`, and the bit
//! array is `1 + m_bits / 64` little-endian u64 words. The defaults (10 000, 0.001) give
//! k = 10, m_bits = 150 000, 2 344 words (18 752 bytes).
//!
//! # Bit positions
//! With `a = |hash(id)|` and `b = |hash(id ++ " b")|` (Nim's `hash(string)`, see
//! [`farmhash`](super::farmhash)), the i-th of the k positions is
//! `((a mod m) + i * (b mod m)) mod m`; bit `p` is bit `p % 64` of word `p / 64`.
//! [`IdHashes`] holds `a` and `b` so that an id checked against many filters is hashed once.
//!
//! # Encoding
//! A protobuf message, fields in this order, each always present (nim-sds writes zero
//! values too): 1 bytes = the words, little-endian, concatenated; 2 varint capacity;
//! 3 varint `trunc(error_rate * 1e6)`; 4 varint k; 5 varint m_bits.
//!
//! Decoding follows nim-sds's reader (libp2p minprotobuf): the last occurrence of a field
//! wins, unknown fields are skipped, a known field with an unexpected wire type is skipped,
//! and all five fields are required; the framing (varints of at most 10 bytes, wire types)
//! is read by the shared `protocol::protobuf` reader, exactly as for SDS messages. Unlike
//! nim-sds it also validates what a peer sent (0 < m_bits <= 64 * words, 1 <= k <= 32,
//! whole words), so a lookup can never index out of the bit array.

use super::dialect::WireFormat;
use super::farmhash::nim_hash_abs;
use super::murmur::{nim_js_hash_abs, nim_js_hash_abs_with_suffix};
use super::protobuf::{
    len_field_len, put_len_prefix, put_varint_field, varint_field_len, FieldReader, FieldValue,
};

/// Largest number of hash functions accepted, from a constructor or from a peer.
pub(crate) const MAX_K: u32 = 32;
/// Largest bit-array size [`BloomFilter::new`] builds (2^32 bits = 512 MiB).
pub(crate) const MAX_M_BITS: u64 = 1 << 32;

/// Field numbers of the five fields nim-sds writes.
const FIELD_DATA: u32 = 1;
const FIELD_CAPACITY: u32 = 2;
const FIELD_ERROR_RATE: u32 = 3;
const FIELD_K: u32 = 4;
const FIELD_M_BITS: u32 = 5;

/// Why a bloom filter could not be built or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum BloomError {
    /// The capacity is 0, or (when decoding) does not fit in `usize`.
    #[error("bloom capacity {0} is out of range (must be at least 1 and fit in usize)")]
    InvalidCapacity(u64),
    /// The requested false-positive rate is not a number strictly between 0 and 1.
    #[error("bloom error rate must be strictly between 0 and 1, got {0}")]
    InvalidErrorRate(String),
    /// The requested sizing needs more than `MAX_M_BITS` bits.
    #[error("bloom filter would need {0} bits, more than the limit of 2^32")]
    TooLarge(u128),
    /// The number of hash functions is outside `1..=32` (a decoded `k`, or the `k` an
    /// extremely small error rate would need).
    #[error("bloom hash count k = {0} is outside 1..=32")]
    InvalidK(u64),
    /// `m_bits` is 0 or larger than the bit array carried.
    #[error(
        "bloom m_bits = {m_bits} does not fit its {words} words (need 0 < m_bits <= 64 * words)"
    )]
    InvalidMBits {
        /// The decoded bit count.
        m_bits: u64,
        /// The number of 64-bit words in the decoded bit array.
        words: usize,
    },
    /// The bit array's length is not a multiple of 8 bytes.
    #[error("bloom bit array is {0} bytes, not a whole number of 64-bit words")]
    DataNotWordAligned(usize),
    /// One of the five required fields is absent.
    #[error("bloom filter encoding lacks required field {0}")]
    MissingField(&'static str),
    /// The bytes are not a well-formed protobuf message.
    #[error("malformed bloom filter encoding: {0}")]
    Malformed(&'static str),
}

/// What nim-sds appends to an id to derive its second hash.
const SUFFIX: &[u8; 2] = b" b";

/// `|hash(id ++ " b")|` assembled in an `N`-byte stack buffer, or `None` if it does not
/// fit.
#[inline(always)]
fn hash_with_suffix_on_stack<const N: usize>(id: &[u8]) -> Option<u64> {
    let mut buf = [0u8; N];
    let n = id.len();
    let dst = buf.get_mut(..n.checked_add(SUFFIX.len())?)?;
    dst[..n].copy_from_slice(id);
    dst[n..].copy_from_slice(SUFFIX);
    Some(nim_hash_abs(dst))
}

/// The two base hashes of an id, `a = |hash(id)|` and `b = |hash(id ++ " b")|`, from which
/// every filter derives its k bit positions. Compute once per id, then check it against
/// any number of filters with `contains_hashed`.
///
/// The absolute values are unsigned, so a hash of `i64::MIN` gives 2^63 (Nim's `abs` would
/// wrap there and nim-sds would index out of range; no such id is known).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdHashes {
    a: u64,
    b: u64,
}

impl IdHashes {
    /// Hashes of a message id, as nim-sds computes them.
    pub fn of(id: &str) -> Self {
        Self::of_bytes(id.as_bytes())
    }

    /// Hashes of an id given as raw bytes (Nim strings are byte strings).
    pub fn of_bytes(id: &[u8]) -> Self {
        let a = nim_hash_abs(id);
        // `id ++ " b"` is assembled on the stack for the usual id lengths.
        let on_stack = if id.len() <= 62 {
            hash_with_suffix_on_stack::<64>(id)
        } else {
            hash_with_suffix_on_stack::<256>(id)
        };
        let b = on_stack.unwrap_or_else(|| {
            let mut buf = Vec::with_capacity(id.len() + SUFFIX.len());
            buf.extend_from_slice(id);
            buf.extend_from_slice(SUFFIX);
            nim_hash_abs(&buf)
        });
        IdHashes { a, b }
    }

    /// Hashes of a message id as a peer of `format` computes them: nim-sds's FarmHash for
    /// `nim`, Nim's JavaScript-backend MurmurHash3 for `spec` (what `@waku/sds` ships; see
    /// `protocol/murmur.rs`). The bit positions derive from them alike.
    pub fn of_as(format: WireFormat, id: &str) -> Self {
        match format {
            WireFormat::Nim => Self::of(id),
            WireFormat::Spec => IdHashes {
                a: nim_js_hash_abs(id),
                b: nim_js_hash_abs_with_suffix(id, " b"),
            },
        }
    }

    /// `|hash(id)|`.
    pub fn a(&self) -> u64 {
        self.a
    }

    /// `|hash(id ++ " b")|`.
    pub fn b(&self) -> u64 {
        self.b
    }

    /// The k bit positions of this id in a filter of `m_bits` bits (`m_bits` > 0).
    fn positions(&self, m_bits: u64, k: u32) -> Positions {
        let m = m_bits.max(1);
        Positions {
            pos: self.a % m,
            step: self.b % m,
            m,
            remaining: k,
        }
    }
}

/// Iterator over `((a mod m) + i * (b mod m)) mod m` for i in 0..k, by repeated modular
/// addition: no multiplication or division per step, and no overflow for any `m`.
struct Positions {
    pos: u64,
    step: u64,
    m: u64,
    remaining: u32,
}

impl Iterator for Positions {
    type Item = u64;

    #[inline(always)]
    fn next(&mut self) -> Option<u64> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let current = self.pos;
        // pos, step < m, so pos + step < 2m; subtract m when it wraps, without overflow.
        let room = self.m - self.step;
        if self.pos >= room {
            self.pos -= room;
        } else {
            self.pos += self.step;
        }
        Some(current)
    }
}

/// `(k, m_bits)` for a capacity and error rate, validated.
pub(crate) fn sizing(capacity: usize, error_rate: f64) -> Result<(u32, u64), BloomError> {
    if capacity == 0 {
        return Err(BloomError::InvalidCapacity(0));
    }
    if !(error_rate > 0.0 && error_rate < 1.0) {
        return Err(BloomError::InvalidErrorRate(error_rate.to_string()));
    }
    let ln2 = std::f64::consts::LN_2;
    let bits_per_elem = (-(error_rate.ln() / (ln2 * ln2))).ceil();
    let k = (ln2 * bits_per_elem).round();
    if !(1.0..=f64::from(MAX_K)).contains(&k) {
        return Err(BloomError::InvalidK(k as u64));
    }
    // bits_per_elem is a small positive integer here (k <= 32 bounds it below ~47).
    let m_bits = capacity as u128 * bits_per_elem as u128;
    if m_bits > u128::from(MAX_M_BITS) {
        return Err(BloomError::TooLarge(m_bits));
    }
    Ok((k as u32, m_bits as u64))
}

/// A bloom filter laid out exactly as nim-sds lays it out.
#[derive(Clone, Debug, PartialEq)]
pub struct BloomFilter {
    capacity: usize,
    error_rate: f64,
    k: u32,
    m_bits: u64,
    /// The bit array as it goes on the wire: little-endian u64 words, so bit `p` is bit
    /// `p % 8` of byte `p / 8`, and encoding is one copy.
    bytes: Vec<u8>,
}

impl BloomFilter {
    /// An empty filter sized like nim-sds's `initializeBloomFilter(capacity, error_rate)`.
    /// Fails for capacity 0, an error rate outside (0, 1), an error rate so small it needs
    /// more than 32 hash functions, or more than 2^32 bits.
    pub fn new(capacity: usize, error_rate: f64) -> Result<Self, BloomError> {
        let (k, m_bits) = sizing(capacity, error_rate)?;
        Ok(Self::with_sizing(capacity, error_rate, k, m_bits))
    }

    /// An empty filter of already validated dimensions.
    pub(crate) fn with_sizing(capacity: usize, error_rate: f64, k: u32, m_bits: u64) -> Self {
        BloomFilter {
            capacity,
            error_rate,
            k,
            m_bits,
            bytes: vec![0; 8 * (1 + (m_bits / 64) as usize)],
        }
    }

    /// Adds an id.
    pub fn insert(&mut self, id: &str) {
        self.insert_hashed(&IdHashes::of(id));
    }

    /// Adds an id given its precomputed hashes.
    pub fn insert_hashed(&mut self, h: &IdHashes) {
        for p in h.positions(self.m_bits, self.k) {
            // In bounds: m_bits <= 64 * words is an invariant of every constructor.
            if let Some(byte) = self.bytes.get_mut((p / 8) as usize) {
                *byte |= 1 << (p % 8);
            }
        }
    }

    /// Whether the id may have been added (false positives at about `error_rate`, no false
    /// negatives).
    pub fn contains(&self, id: &str) -> bool {
        self.contains_hashed(&IdHashes::of(id))
    }

    /// [`contains`](Self::contains) with precomputed hashes.
    pub fn contains_hashed(&self, h: &IdHashes) -> bool {
        h.positions(self.m_bits, self.k).all(|p| {
            self.bytes
                .get((p / 8) as usize)
                .is_some_and(|byte| (byte >> (p % 8)) & 1 == 1)
        })
    }

    /// Clears every bit, keeping the dimensions.
    pub fn clear(&mut self) {
        self.bytes.fill(0);
    }

    /// The capacity the filter was sized for (as encoded; informational).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The target false-positive rate (for a decoded filter, the encoded millionths / 1e6).
    pub fn error_rate(&self) -> f64 {
        self.error_rate
    }

    /// Number of hash functions.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// Number of addressable bits.
    pub fn m_bits(&self) -> u64 {
        self.m_bits
    }

    /// A copy of the bit array as words: bit `p` is bit `p % 64` of `words()[p / 64]`.
    pub fn words(&self) -> Vec<u64> {
        self.bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_le_bytes(b)
            })
            .collect()
    }

    /// The error rate as encoded in field 3: `trunc(error_rate * 1e6)`.
    fn error_rate_micros(&self) -> u64 {
        (self.error_rate * 1_000_000.0) as u64
    }

    /// Exact length of [`serialize`](Self::serialize)'s output.
    pub fn encoded_len(&self) -> usize {
        len_field_len(FIELD_DATA, self.bytes.len())
            + varint_field_len(FIELD_CAPACITY, self.capacity as u64)
            + varint_field_len(FIELD_ERROR_RATE, self.error_rate_micros())
            + varint_field_len(FIELD_K, u64::from(self.k))
            + varint_field_len(FIELD_M_BITS, self.m_bits)
    }

    /// Appends the nim-sds encoding to `buf` (growing it at most once).
    pub fn encode_into(&self, buf: &mut Vec<u8>) {
        buf.reserve(self.encoded_len());
        put_len_prefix(FIELD_DATA, self.bytes.len(), buf);
        buf.extend_from_slice(&self.bytes);
        put_varint_field(FIELD_CAPACITY, self.capacity as u64, buf);
        put_varint_field(FIELD_ERROR_RATE, self.error_rate_micros(), buf);
        put_varint_field(FIELD_K, u64::from(self.k), buf);
        put_varint_field(FIELD_M_BITS, self.m_bits, buf);
    }

    /// Appends the bloom payload of `format` to `buf`: the nim-sds encoding, or for the
    /// spec dialect the bare bit array as big-endian 64-bit words, as `@waku/sds` writes
    /// it (its receivers assume their own sizing; both default to 10 000 / 0.001).
    pub fn encode_as(&self, format: WireFormat, buf: &mut Vec<u8>) {
        match format {
            WireFormat::Nim => self.encode_into(buf),
            WireFormat::Spec => {
                buf.reserve(self.bytes.len());
                for word in self.bytes.chunks_exact(8) {
                    buf.extend(word.iter().rev());
                }
            }
        }
    }

    /// The nim-sds encoding (what goes in an SdsMessage's field 6).
    pub fn serialize(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut buf);
        buf
    }

    /// Decodes and validates an encoded filter into an owned one (one allocation, the size
    /// of the carried bit array). For checking a peer's filter on receipt, prefer the
    /// zero-copy [`PeerBloom::parse`].
    pub fn deserialize(bytes: &[u8]) -> Result<Self, BloomError> {
        PeerBloom::parse(bytes)?.to_filter()
    }
}

/// A validated, borrowed view of an encoded bloom filter: lookups read the bit array
/// straight out of the received bytes, nothing is copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerBloom<'a> {
    data: &'a [u8],
    capacity: u64,
    error_rate_micros: u64,
    k: u32,
    m_bits: u64,
    /// Words are big-endian (the spec dialect's payload) rather than little-endian.
    big_endian: bool,
}

impl<'a> PeerBloom<'a> {
    /// Reads a received bloom payload of `format`. A spec payload carries no sizing, so,
    /// as `@waku/sds` does, it is read with the receiver's own `k` and `m_bits`
    /// (`own`); it must hold whole words covering `m_bits`. Never panics or allocates.
    pub fn parse_as(
        format: WireFormat,
        bytes: &'a [u8],
        own: &BloomFilter,
    ) -> Result<Self, BloomError> {
        match format {
            WireFormat::Nim => Self::parse(bytes),
            WireFormat::Spec => {
                if !bytes.len().is_multiple_of(8) {
                    return Err(BloomError::DataNotWordAligned(bytes.len()));
                }
                if own.m_bits > (bytes.len() as u64).saturating_mul(8) {
                    return Err(BloomError::InvalidMBits {
                        m_bits: own.m_bits,
                        words: bytes.len() / 8,
                    });
                }
                Ok(PeerBloom {
                    data: bytes,
                    capacity: own.capacity as u64,
                    error_rate_micros: own.error_rate_micros(),
                    k: own.k,
                    m_bits: own.m_bits,
                    big_endian: true,
                })
            }
        }
    }

    /// Parses and validates an encoded filter (see the module docs of `protocol/bloom.rs` for the rules).
    /// Never panics and never allocates.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BloomError> {
        let mut reader = FieldReader::new(bytes);
        let mut data: Option<&'a [u8]> = None;
        let mut capacity = None;
        let mut error_rate_micros = None;
        let mut k = None;
        let mut m_bits = None;
        while let Some((field, value)) = reader
            .next_field()
            .map_err(|e| BloomError::Malformed(e.reason))?
        {
            match (field, value) {
                (1, FieldValue::Bytes(b)) => data = Some(b),
                (2, FieldValue::Varint(v)) => capacity = Some(v.as_u64()),
                (3, FieldValue::Varint(v)) => error_rate_micros = Some(v.as_u64()),
                (4, FieldValue::Varint(v)) => k = Some(v.as_u64()),
                (5, FieldValue::Varint(v)) => m_bits = Some(v.as_u64()),
                _ => {}
            }
        }

        let data = data.ok_or(BloomError::MissingField("1 (bit array)"))?;
        let capacity = capacity.ok_or(BloomError::MissingField("2 (capacity)"))?;
        let error_rate_micros =
            error_rate_micros.ok_or(BloomError::MissingField("3 (error rate)"))?;
        let k = k.ok_or(BloomError::MissingField("4 (k)"))?;
        let m_bits = m_bits.ok_or(BloomError::MissingField("5 (m_bits)"))?;

        if data.len() % 8 != 0 {
            return Err(BloomError::DataNotWordAligned(data.len()));
        }
        let words = data.len() / 8;
        // data.len() = 8 * words, so 64 * words = 8 * data.len(); saturate if that does not
        // fit in a u64 (then every u64 m_bits fits).
        let bit_room = (data.len() as u64).saturating_mul(8);
        if m_bits == 0 || m_bits > bit_room {
            return Err(BloomError::InvalidMBits { m_bits, words });
        }
        let k = match u32::try_from(k) {
            Ok(k) if (1..=MAX_K).contains(&k) => k,
            _ => return Err(BloomError::InvalidK(k)),
        };
        Ok(PeerBloom {
            data,
            capacity,
            error_rate_micros,
            k,
            m_bits,
            big_endian: false,
        })
    }

    /// Whether the id may be in the peer's filter.
    pub fn contains(&self, id: &str) -> bool {
        self.contains_hashed(&IdHashes::of(id))
    }

    /// [`contains`](Self::contains) with precomputed hashes.
    pub fn contains_hashed(&self, h: &IdHashes) -> bool {
        // Word p / 64 is bytes 8 * (p / 64) .. +8, little-endian, so bit p is bit p % 8 of
        // byte p / 8 (big-endian: of byte 8 * (p / 64) + 7 - (p % 64) / 8).
        h.positions(self.m_bits, self.k).all(|p| {
            let byte = if self.big_endian {
                (p / 64) * 8 + 7 - (p % 64) / 8
            } else {
                p / 8
            };
            self.data
                .get(byte as usize)
                .is_some_and(|byte| (byte >> (p % 8)) & 1 == 1)
        })
    }

    /// Encoded capacity (informational).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Encoded error rate, as nim-sds reads it back: millionths / 1e6.
    pub fn error_rate(&self) -> f64 {
        self.error_rate_micros as f64 / 1_000_000.0
    }

    /// Number of hash functions.
    pub fn k(&self) -> u32 {
        self.k
    }

    /// Number of addressable bits.
    pub fn m_bits(&self) -> u64 {
        self.m_bits
    }

    /// Number of 64-bit words carried.
    pub fn word_count(&self) -> usize {
        self.data.len() / 8
    }

    /// An owned copy. Fails only if the encoded capacity does not fit in `usize`.
    pub fn to_filter(&self) -> Result<BloomFilter, BloomError> {
        let bytes = if self.big_endian {
            self.data
                .chunks_exact(8)
                .flat_map(|w| w.iter().rev().copied())
                .collect()
        } else {
            self.data.to_vec()
        };
        let capacity = usize::try_from(self.capacity)
            .map_err(|_| BloomError::InvalidCapacity(self.capacity))?;
        Ok(BloomFilter {
            capacity,
            error_rate: self.error_rate(),
            k: self.k,
            m_bits: self.m_bits,
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::farmhash::nim_hash_abs;
    use crate::protocol::protobuf::put_bytes_field;

    /// A hand-built protobuf message from `(field, payload)` parts, or raw bytes.
    enum Part<'a> {
        Varint(u32, u64),
        Bytes(u32, &'a [u8]),
        Raw(&'a [u8]),
    }

    /// `hashN(id, n, 150000)` for n = 0, 1, 9 (the first, second and last of k = 10) from
    /// `@waku/sds` 0.0.8 under Node 20: the spec dialect's bit positions in a default filter.
    #[test]
    fn spec_positions_are_waku_sds_hashn() {
        let vectors: &[(&str, [u64; 3])] = &[
            ("", [0, 36008, 24072]),
            ("abcde", [55434, 74796, 79692]),
            ("rs-0", [70528, 81949, 23317]),
            (
                "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4",
                [147339, 107824, 91704],
            ),
            ("héllo", [37607, 101567, 13247]),
            ("😀x", [48379, 134204, 70804]),
        ];
        for (id, want) in vectors {
            let got: Vec<u64> = IdHashes::of_as(WireFormat::Spec, id)
                .positions(150_000, 10)
                .collect();
            assert_eq!([got[0], got[1], got[9]], *want, "{id:?}");
        }
        // The nim dialect keeps nim-sds's FarmHash positions.
        assert_eq!(
            IdHashes::of_as(WireFormat::Nim, "rs-0"),
            IdHashes::of("rs-0")
        );
    }

    fn build(parts: &[Part<'_>]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            match part {
                Part::Varint(field, v) => put_varint_field(*field, *v, &mut out),
                Part::Bytes(field, b) => put_bytes_field(*field, b, &mut out),
                Part::Raw(b) => out.extend_from_slice(b),
            }
        }
        out
    }

    fn valid_parts(data: &[u8]) -> Vec<Part<'_>> {
        vec![
            Part::Bytes(1, data),
            Part::Varint(2, 100),
            Part::Varint(3, 10_000),
            Part::Varint(4, 7),
            Part::Varint(5, 1000),
        ]
    }

    #[test]
    fn sizing_matches_nim_sds() {
        let cases = [
            (10_000, 0.001, 10, 150_000, 2344),
            (100, 0.01, 7, 1000, 16),
            (120, 0.01, 7, 1200, 19),
            (2000, 0.05, 5, 14_000, 219),
            (12_000, 0.001, 10, 180_000, 2813),
            (1, 0.5, 1, 2, 1),
        ];
        for (capacity, err, k, m_bits, words) in cases {
            let bf = BloomFilter::new(capacity, err).expect("valid");
            assert_eq!(bf.k(), k, "{capacity} {err}");
            assert_eq!(bf.m_bits(), m_bits, "{capacity} {err}");
            assert_eq!(bf.words().len(), words, "{capacity} {err}");
            assert_eq!(bf.capacity(), capacity);
            assert_eq!(bf.error_rate(), err);
            assert!(bf.words().iter().all(|&w| w == 0));
        }
    }

    #[test]
    fn new_rejects_bad_parameters() {
        assert_eq!(
            BloomFilter::new(0, 0.01),
            Err(BloomError::InvalidCapacity(0))
        );
        for err in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    BloomFilter::new(10, err),
                    Err(BloomError::InvalidErrorRate(_))
                ),
                "{err}"
            );
        }
        // 1e-12 needs 58 bits per id and k = 40.
        assert_eq!(BloomFilter::new(10, 1e-12), Err(BloomError::InvalidK(40)));
        // 2^31 ids at 0.001 (15 bits each) is far beyond 2^32 bits; nothing is allocated.
        assert_eq!(
            BloomFilter::new(1 << 31, 0.001),
            Err(BloomError::TooLarge(15 << 31))
        );
        assert!(matches!(
            BloomFilter::new(usize::MAX, 0.5),
            Err(BloomError::TooLarge(_))
        ));
        let msg = BloomFilter::new(10, 2.0).unwrap_err().to_string();
        assert!(msg.contains("error rate") && msg.contains('2'), "{msg}");
    }

    #[test]
    fn id_hashes_are_hash_of_id_and_id_with_space_b() {
        for id in [
            "",
            "m1",
            "msg-1",
            &"z".repeat(126),
            &"y".repeat(127),
            &"w".repeat(500),
        ] {
            let h = IdHashes::of(id);
            assert_eq!(h.a(), nim_hash_abs(id.as_bytes()), "{id}");
            assert_eq!(h.b(), nim_hash_abs(format!("{id} b").as_bytes()), "{id}");
            assert_eq!(IdHashes::of_bytes(id.as_bytes()), h);
        }
    }

    #[test]
    fn positions_follow_the_double_hashing_formula_without_overflow() {
        let ms = [1u64, 2, 64, 1000, 150_000, 1 << 40, u64::MAX - 1, u64::MAX];
        let abs = [0u64, 1, 999, 123_456_789, 1 << 63, u64::MAX];
        for &m in &ms {
            for &a in &abs {
                for &b in &abs {
                    let h = IdHashes { a, b };
                    let got: Vec<u64> = h.positions(m, 32).collect();
                    let want: Vec<u64> = (0..32u128)
                        .map(|i| {
                            let (am, bm) = (u128::from(a % m), u128::from(b % m));
                            ((am + i * bm) % u128::from(m)) as u64
                        })
                        .collect();
                    assert_eq!(got, want, "a {a} b {b} m {m}");
                }
            }
        }
        assert_eq!(IdHashes { a: 5, b: 7 }.positions(100, 3).count(), 3);
    }

    #[test]
    fn inserted_ids_are_found_and_hashed_variants_agree() {
        let mut bf = BloomFilter::new(100, 0.01).expect("valid");
        assert!(!bf.contains("a"));
        let ids: Vec<String> = (0..100).map(|i| format!("id-{i}")).collect();
        for id in &ids[..50] {
            bf.insert(id);
        }
        for id in &ids[50..] {
            bf.insert_hashed(&IdHashes::of(id));
        }
        for id in &ids {
            assert!(bf.contains(id));
            assert!(bf.contains_hashed(&IdHashes::of(id)));
        }
        let absent = (0..1000)
            .filter(|i| bf.contains(&format!("absent-{i}")))
            .count();
        // About 1 % false positives expected; allow generous slack.
        assert!(absent < 50, "{absent} false positives in 1000");
        bf.clear();
        assert!(bf.words().iter().all(|&w| w == 0));
        assert!(!bf.contains("id-0"));
    }

    #[test]
    fn insert_sets_exactly_the_k_positions() {
        let mut bf = BloomFilter::new(10_000, 0.001).expect("valid");
        bf.insert("m1");
        let words = bf.words();
        let set: Vec<u64> = (0..bf.m_bits())
            .filter(|p| (words[(p / 64) as usize] >> (p % 64)) & 1 == 1)
            .collect();
        // fixtures/nim-sds/hash.json, bloom_single_id_bits for "m1".
        assert_eq!(
            set,
            [13993, 16658, 43460, 46125, 72927, 75592, 102394, 105059, 134526, 137191]
        );
    }

    #[test]
    fn encoding_layout_emits_all_five_fields_in_order() {
        let mut bf = BloomFilter::new(1, 0.5).expect("valid");
        bf.insert("x");
        let word = bf.words()[0];
        assert_ne!(word, 0);
        let mut want = vec![0x0a, 0x08];
        want.extend_from_slice(&word.to_le_bytes());
        // capacity 1, 500000 millionths, k 1, m_bits 2.
        want.extend_from_slice(&[0x10, 1, 0x18, 0xa0, 0xc2, 0x1e, 0x20, 1, 0x28, 2]);
        assert_eq!(bf.serialize(), want);
        assert_eq!(bf.encoded_len(), want.len());
    }

    #[test]
    fn zero_valued_error_rate_field_is_still_written() {
        // 1e-7 * 1e6 truncates to 0; nim-sds (libp2p minprotobuf) writes the field anyway.
        let bf = BloomFilter::new(2, 1e-7).expect("valid");
        let enc = bf.serialize();
        let trailer_at = 2 + bf.words().len() * 8;
        assert_eq!(&enc[trailer_at..trailer_at + 4], &[0x10, 2, 0x18, 0]);
        assert_eq!(enc.len(), bf.encoded_len());
        let back = PeerBloom::parse(&enc).expect("parses");
        assert_eq!(back.error_rate(), 0.0);
    }

    #[test]
    fn error_rate_field_truncates_like_nim() {
        // 0.000249 * 1e6 = 248.99999999999997 in f64; Nim's uint64() conversion truncates.
        let enc = BloomFilter::new(3, 0.000249).expect("valid").serialize();
        let trailer = &enc[enc.len() - 9..];
        assert_eq!(&trailer[..5], &[0x10, 3, 0x18, 0xf8, 0x01]);
        assert_eq!(PeerBloom::parse(&enc).map(|p| p.error_rate()), Ok(0.000248));
    }

    #[test]
    fn encode_into_appends() {
        let mut bf = BloomFilter::new(10_000, 0.001).expect("valid");
        bf.insert("msg-1");
        let mut buf = vec![0xAA, 0xBB];
        bf.encode_into(&mut buf);
        assert_eq!(&buf[..2], &[0xAA, 0xBB]);
        assert_eq!(&buf[2..], bf.serialize().as_slice());
        assert_eq!(buf.len(), 2 + bf.encoded_len());
    }

    #[test]
    fn round_trip_owned_and_borrowed() {
        let mut bf = BloomFilter::new(2000, 0.05).expect("valid");
        for i in 0..500 {
            bf.insert(&format!("id-{i}"));
        }
        let enc = bf.serialize();
        let owned = BloomFilter::deserialize(&enc).expect("decodes");
        assert_eq!(owned, bf);
        assert_eq!(owned.serialize(), enc);
        let peer = PeerBloom::parse(&enc).expect("parses");
        assert_eq!(peer.k(), 5);
        assert_eq!(peer.m_bits(), 14_000);
        assert_eq!(peer.capacity(), 2000);
        assert_eq!(peer.error_rate(), 0.05);
        assert_eq!(peer.word_count(), 219);
        assert_eq!(peer.to_filter().expect("owned copy"), bf);
        for i in 0..1000 {
            let id = format!("id-{i}");
            let h = IdHashes::of(&id);
            assert_eq!(peer.contains(&id), bf.contains(&id));
            assert_eq!(peer.contains_hashed(&h), bf.contains_hashed(&h));
        }
    }

    #[test]
    fn decoding_follows_minprotobuf_rules() {
        let data = [0xFFu8; 16 * 8];
        let base = build(&valid_parts(&data));
        let peer = PeerBloom::parse(&base).expect("valid");
        assert!(peer.contains("anything"));

        // Last occurrence wins; unknown fields of every wire type are skipped.
        let mut parts = valid_parts(&data);
        parts.push(Part::Varint(4, 3));
        parts.push(Part::Varint(9, 1));
        parts.push(Part::Bytes(10, b"junk"));
        parts.push(Part::Raw(&[(11 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]));
        parts.push(Part::Raw(&[(12 << 3) | 5, 1, 2, 3, 4]));
        let enc = build(&parts);
        let peer = PeerBloom::parse(&enc).expect("valid");
        assert_eq!(peer.k(), 3);

        // A known field with the wrong wire type is skipped, not an error...
        let mut parts = valid_parts(&data);
        parts.push(Part::Bytes(4, b"\x05"));
        assert_eq!(PeerBloom::parse(&build(&parts)).map(|p| p.k()), Ok(7));
        // ...so if that is its only occurrence, the field is missing.
        let parts = [
            Part::Bytes(1, &data),
            Part::Varint(2, 100),
            Part::Varint(3, 10_000),
            Part::Bytes(4, b"\x07"),
            Part::Varint(5, 1000),
        ];
        assert_eq!(
            PeerBloom::parse(&build(&parts)),
            Err(BloomError::MissingField("4 (k)"))
        );
    }

    #[test]
    fn ten_byte_varints_are_read_like_nim_sds() {
        // Capacity 100 in ten bytes, the tenth carrying bits past the 64th: nim-sds ignores
        // them and reads 100 (as the SDS message codec does); an eleventh byte is an error.
        let data = [0u8; 16 * 8];
        let capacity = [
            0x10, 0xe4, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7e,
        ];
        let mut parts = valid_parts(&data);
        parts[1] = Part::Raw(&capacity);
        assert_eq!(
            PeerBloom::parse(&build(&parts)).map(|p| p.capacity()),
            Ok(100)
        );
        let mut all_ones = [0xff; 11];
        all_ones[0] = 0x10;
        all_ones[10] = 0x7f;
        parts[1] = Part::Raw(&all_ones);
        assert_eq!(
            PeerBloom::parse(&build(&parts)).map(|p| p.capacity()),
            Ok(u64::MAX)
        );
        let eleven = [
            0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0,
        ];
        parts[1] = Part::Raw(&eleven);
        assert_eq!(
            PeerBloom::parse(&build(&parts)),
            Err(BloomError::Malformed("varint longer than 10 bytes"))
        );
    }

    #[test]
    fn decoding_rejects_invalid_filters() {
        let data = [0u8; 16 * 8];
        let missing = |skip: usize| {
            let parts: Vec<Part<'_>> = valid_parts(&data)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, p)| p)
                .collect();
            PeerBloom::parse(&build(&parts)).err()
        };
        for skip in 0..5 {
            assert!(matches!(missing(skip), Some(BloomError::MissingField(_))));
        }
        assert_eq!(
            PeerBloom::parse(&[]),
            Err(BloomError::MissingField("1 (bit array)"))
        );

        let with = |data: &[u8], k: u64, m: u64| {
            let parts = [
                Part::Bytes(1, data),
                Part::Varint(2, 100),
                Part::Varint(3, 10_000),
                Part::Varint(4, k),
                Part::Varint(5, m),
            ];
            let enc = build(&parts);
            let peer = PeerBloom::parse(&enc).err();
            assert_eq!(
                BloomFilter::deserialize(&enc).err(),
                peer,
                "owned and borrowed agree"
            );
            peer
        };
        assert_eq!(with(&data, 7, 1024), None);
        assert_eq!(
            with(&data, 7, 1025),
            Some(BloomError::InvalidMBits {
                m_bits: 1025,
                words: 16
            })
        );
        assert_eq!(
            with(&data, 7, 0),
            Some(BloomError::InvalidMBits {
                m_bits: 0,
                words: 16
            })
        );
        assert_eq!(
            with(&[], 7, 1),
            Some(BloomError::InvalidMBits {
                m_bits: 1,
                words: 0
            })
        );
        assert_eq!(
            with(&data, 7, u64::MAX),
            Some(BloomError::InvalidMBits {
                m_bits: u64::MAX,
                words: 16
            })
        );
        assert_eq!(with(&data, 0, 1000), Some(BloomError::InvalidK(0)));
        assert_eq!(with(&data, 33, 1000), Some(BloomError::InvalidK(33)));
        assert_eq!(with(&data, 32, 1000), None);
        assert_eq!(
            with(&data, u64::MAX, 1000),
            Some(BloomError::InvalidK(u64::MAX))
        );
        assert_eq!(
            with(&data[..15], 7, 64),
            Some(BloomError::DataNotWordAligned(15))
        );

        let malformed = |bytes: &[u8]| {
            assert!(
                matches!(PeerBloom::parse(bytes), Err(BloomError::Malformed(_))),
                "{bytes:?}"
            );
            assert!(BloomFilter::deserialize(bytes).is_err());
        };
        malformed(&[0x0a, 0x10, 0, 0]); // length past the end
        malformed(&[
            0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        malformed(&[0x10]); // key without value
        malformed(&[0x10, 0x80]); // unterminated varint
        malformed(&[0x80]); // unterminated key
        malformed(&[0x0b]); // start group
        malformed(&[0x0c]); // end group
        malformed(&[0x0e]); // wire type 6
        malformed(&[0x09, 1, 2, 3]); // fixed64 past the end
        malformed(&[0x0d, 1, 2]); // fixed32 past the end
        let too_long_varint = [
            0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1,
        ];
        malformed(&too_long_varint);
    }

    #[test]
    fn error_messages_are_clear() {
        assert_eq!(
            BloomError::InvalidMBits {
                m_bits: 9,
                words: 0
            }
            .to_string(),
            "bloom m_bits = 9 does not fit its 0 words (need 0 < m_bits <= 64 * words)"
        );
        assert_eq!(
            BloomError::InvalidK(40).to_string(),
            "bloom hash count k = 40 is outside 1..=32"
        );
        assert_eq!(
            BloomError::DataNotWordAligned(15).to_string(),
            "bloom bit array is 15 bytes, not a whole number of 64-bit words"
        );
    }
}
