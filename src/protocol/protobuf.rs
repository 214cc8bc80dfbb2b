//! The protobuf subset every SDS format uses (wire messages, bloom filters, snapshots),
//! read and written in one place with nim-sds's rules (libp2p `minprotobuf`), so the
//! formats cannot drift apart.
//!
//! Reading: a varint is at most 10 bytes and the bits of the tenth byte beyond the 64th
//! are ignored (an eleventh byte is an error); wire types 0 (varint), 1 (fixed64),
//! 2 (length-delimited) and 5 (fixed32) are read, groups (3, 4) and wire types 6 and 7 are
//! errors; field numbers are not range-checked (0 and huge numbers are just unknown
//! fields). What a field *means* (last occurrence wins, wrong wire type skipped, required
//! fields) is each codec's business: the reader only hands out `(number, value)` pairs,
//! borrowing from the input, and never allocates.
//!
//! Writing: keys and varints as every protobuf encoder writes them, plus the sizes, so a
//! codec can compute its exact length first and fill one allocation.

use std::fmt;

use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

/// Encoded size of a length-delimited field `tag` whose payload is `len` bytes.
#[inline]
pub(crate) fn len_field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// Encoded size of a varint field `tag` holding `value`.
#[inline]
pub(crate) fn varint_field_len(tag: u32, value: u64) -> usize {
    key_len(tag) + encoded_len_varint(value)
}

/// Writes the key and length prefix of a length-delimited field; the caller writes the
/// `len` payload bytes right after.
#[inline]
pub(crate) fn put_len_prefix(tag: u32, len: usize, buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

/// Writes a length-delimited field holding `bytes`.
#[inline]
pub(crate) fn put_bytes_field(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    put_len_prefix(tag, bytes.len(), buf);
    buf.extend_from_slice(bytes);
}

/// Writes a varint field.
#[inline]
pub(crate) fn put_varint_field(tag: u32, value: u64, buf: &mut Vec<u8>) {
    encode_key(tag, WireType::Varint, buf);
    encode_varint(value, buf);
}

/// Why the framing of a protobuf message is broken. Small and `Copy` (no allocation, even
/// for a refused peer message); each codec wraps it in its own error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FramingError {
    /// What is wrong, as a fixed phrase.
    pub(crate) reason: &'static str,
    /// The field's number, once its key has been read.
    field: Option<u64>,
    /// Offset of the field's key in the buffer being read.
    at: usize,
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.reason)?;
        match self.field {
            Some(n) => write!(f, " (field {n} at offset {})", self.at),
            None => write!(f, " at offset {}", self.at),
        }
    }
}

/// A varint as read from the wire: its value (64-bit reading) and its length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Varint {
    value: u64,
    len: usize,
}

impl Varint {
    /// The value read as a `uint64`/`int64` field.
    #[inline]
    pub(crate) fn as_u64(self) -> u64 {
        self.value
    }

    /// The value read as a `uint32` field the way nim-sds reads one: at most 5 bytes
    /// (`None` otherwise), bits beyond the 32nd ignored.
    #[inline]
    pub(crate) fn as_u32(self) -> Option<u32> {
        (self.len <= 5).then_some(self.value as u32)
    }
}

/// The value of one field, borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldValue<'a> {
    /// Wire type 0.
    Varint(Varint),
    /// Wire type 2.
    Bytes(&'a [u8]),
    /// Wire types 1 and 5: no SDS format uses them, so their value is skipped.
    Fixed,
}

/// Reads a varint with nim-sds's (libp2p `PB.getUVarint` for `uint64`) rules: at most
/// 10 bytes, high bits beyond the 64th ignored. The error is a [`FramingError::reason`].
#[inline(always)]
fn read_varint(buf: &mut &[u8]) -> Result<Varint, &'static str> {
    let bytes: &[u8] = buf;
    // Keys and most values are one byte: take them without entering the loop.
    if let Some((&b, rest)) = bytes.split_first() {
        if b & 0x80 == 0 {
            *buf = rest;
            return Ok(Varint {
                value: u64::from(b),
                len: 1,
            });
        }
    }
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate() {
        if i == 10 {
            return Err("varint longer than 10 bytes");
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *buf = bytes.get(i + 1..).unwrap_or_default();
            return Ok(Varint { value, len: i + 1 });
        }
    }
    Err("truncated varint")
}

/// Reads the fields of one protobuf message in order, borrowing from the input.
pub(crate) struct FieldReader<'a> {
    buf: &'a [u8],
    start_len: usize,
}

impl<'a> FieldReader<'a> {
    /// A reader over the fields of the message `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            start_len: buf.len(),
        }
    }

    /// Splits off the next `len` bytes, or returns `None` (consuming nothing) if fewer
    /// are left.
    #[inline]
    fn take(&mut self, len: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(len).ok().filter(|&n| n <= self.buf.len())?;
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    /// The next field as `(field number, value)`, or `None` at the end of the input.
    /// After an error the reader's position is unspecified; stop reading.
    #[inline]
    pub(crate) fn next_field(&mut self) -> Result<Option<(u64, FieldValue<'a>)>, FramingError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let at = self.start_len - self.buf.len();
        let fail = |reason, field| FramingError { reason, field, at };
        let key = read_varint(&mut self.buf).map_err(|e| fail(e, None))?;
        let number = key.value >> 3;
        let field = Some(number);
        let value = match key.value & 7 {
            0 => FieldValue::Varint(read_varint(&mut self.buf).map_err(|e| fail(e, field))?),
            // Fixed64 and fixed32 are skipped, but must be complete.
            wt @ (1 | 2 | 5) => {
                let len = match wt {
                    1 => 8,
                    5 => 4,
                    _ => {
                        read_varint(&mut self.buf)
                            .map_err(|e| fail(e, field))?
                            .value
                    }
                };
                let bytes = self
                    .take(len)
                    .ok_or_else(|| fail("field runs past the end", field))?;
                if wt == 2 {
                    FieldValue::Bytes(bytes)
                } else {
                    FieldValue::Fixed
                }
            }
            _ => return Err(fail("unsupported wire type (group, 6 or 7)", field)),
        };
        Ok(Some((number, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    /// Every field of `bytes`, or the first framing error.
    fn fields(bytes: &[u8]) -> Result<Vec<(u64, FieldValue<'_>)>, FramingError> {
        let mut reader = FieldReader::new(bytes);
        let mut out = Vec::new();
        while let Some(f) = reader.next_field()? {
            out.push(f);
        }
        Ok(out)
    }

    fn reason(bytes: &[u8]) -> Result<usize, &'static str> {
        fields(bytes).map(|f| f.len()).map_err(|e| e.reason)
    }

    #[test]
    fn varints_follow_nim_sds() {
        // Ten bytes, the tenth's bits past the 64th ignored (prost would refuse both).
        let max = hex::decode("08ffffffffffffffffff7f").expect("hex");
        let v = |value, len| Ok(vec![(1, FieldValue::Varint(Varint { value, len }))]);
        assert_eq!(fields(&max), v(u64::MAX, 10));
        let overlong_100 = hex::decode("08e48080808080808080 7e".replace(' ', "")).expect("hex");
        assert_eq!(fields(&overlong_100), v(100, 10));
        // An eleventh byte is an error, even when it ends the varint; keys and lengths alike.
        let eleven = hex::decode("0880808080808080808080 00".replace(' ', "")).expect("hex");
        let err = fields(&eleven).expect_err("11 bytes");
        assert_eq!(
            err.to_string(),
            "varint longer than 10 bytes (field 1 at offset 0)"
        );
        assert_eq!(reason(&[0x80; 11]), Err("varint longer than 10 bytes"));
        assert_eq!(reason(&[0x08, 0x80]), Err("truncated varint"));
        // A 32-bit field is read from at most 5 bytes, its high bits dropped.
        assert_eq!(
            Varint {
                value: 1 << 32 | 1,
                len: 5
            }
            .as_u32(),
            Some(1)
        );
        assert_eq!(Varint { value: 1, len: 6 }.as_u32(), None);
    }

    #[test]
    fn broken_framing_is_an_error_that_says_where() {
        let past_end = Err("field runs past the end");
        for bytes in [&[0x0a, 0x05, 1][..], &[0x09, 1, 2, 3], &[0x0d, 1, 2]] {
            assert_eq!(reason(bytes), past_end, "{bytes:?}");
        }
        // A length beyond usize or the input allocates nothing.
        assert_eq!(
            reason(&hex::decode("0affffffffffffffffff01").expect("hex")),
            past_end
        );
        for wt in [3u8, 4, 6, 7] {
            assert_eq!(reason(&[wt]), Err("unsupported wire type (group, 6 or 7)"));
        }
        // Field number 0 is just an unknown field.
        assert_eq!(reason(&[0x00, 0x00]), Ok(1));
        let err = fields(&[0x08, 0x01, 0x5a, 0x09]).expect_err("overrun");
        assert_eq!(
            err.to_string(),
            "field runs past the end (field 11 at offset 2)"
        );
    }

    /// One field to write: number and value.
    #[derive(Debug, Clone)]
    enum Field {
        Varint(u32, u64),
        Bytes(u32, Vec<u8>),
        Fixed(u32, WireType, usize),
    }

    fn field() -> impl Strategy<Value = Field> {
        // Field numbers as the writer accepts them (1 ..= 2^29 - 1).
        let tag = 1u32..(1 << 29);
        prop_oneof![
            (tag.clone(), any::<u64>()).prop_map(|(t, v)| Field::Varint(t, v)),
            (tag.clone(), vec(any::<u8>(), 0..300)).prop_map(|(t, b)| Field::Bytes(t, b)),
            tag.clone()
                .prop_map(|t| Field::Fixed(t, WireType::SixtyFourBit, 8)),
            tag.prop_map(|t| Field::Fixed(t, WireType::ThirtyTwoBit, 4)),
        ]
    }

    proptest! {
        #[test]
        fn written_fields_read_back_and_sizes_are_exact(fs in vec(field(), 0..20)) {
            let (mut buf, mut len) = (Vec::new(), 0);
            for f in &fs {
                match f {
                    Field::Varint(t, v) => {
                        put_varint_field(*t, *v, &mut buf);
                        len += varint_field_len(*t, *v);
                    }
                    Field::Bytes(t, b) => {
                        put_bytes_field(*t, b, &mut buf);
                        len += len_field_len(*t, b.len());
                    }
                    Field::Fixed(t, wt, n) => {
                        encode_key(*t, *wt, &mut buf);
                        buf.resize(buf.len() + n, 0xa5);
                        len += key_len(*t) + n;
                    }
                }
            }
            prop_assert_eq!(buf.len(), len);
            let read = fields(&buf).expect("well-formed");
            prop_assert_eq!(read.len(), fs.len());
            for (f, (number, value)) in fs.iter().zip(read) {
                let (t, ok) = match (f, value) {
                    (Field::Varint(t, v), FieldValue::Varint(got)) => (t, got.as_u64() == *v),
                    (Field::Bytes(t, b), FieldValue::Bytes(got)) => (t, got == b.as_slice()),
                    (Field::Fixed(t, ..), FieldValue::Fixed) => (t, true),
                    _ => (&0, false),
                };
                prop_assert!(ok && number == u64::from(*t), "{:?} read as {:?}", f, value);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_stay_in_bounds(bytes in vec(any::<u8>(), 0..256)) {
            let mut reader = FieldReader::new(&bytes);
            let (mut steps, mut payload) = (0, 0);
            while let Ok(Some((_, value))) = reader.next_field() {
                // Every field consumes at least its one-byte key, so this ends.
                steps += 1;
                prop_assert!(steps <= bytes.len());
                if let FieldValue::Bytes(b) = value {
                    payload += b.len();
                }
            }
            prop_assert!(payload <= bytes.len());
        }

        #[test]
        fn varints_match_a_plain_model(bytes in vec(any::<u8>(), 0..14)) {
            // The first byte without its high bit ends it, at most 10 bytes, bits past the
            // 64th dropped.
            let model = bytes.iter().position(|b| b & 0x80 == 0).filter(|&end| end < 10).map(
                |end| {
                    let v = bytes[..=end]
                        .iter()
                        .enumerate()
                        .fold(0u128, |v, (i, b)| v | u128::from(b & 0x7f) << (7 * i));
                    (v as u64, end + 1)
                },
            );
            let mut rest: &[u8] = &bytes;
            let got = read_varint(&mut rest).ok().map(|v| (v.value, v.len));
            prop_assert_eq!(got, model);
            if let Some((_, len)) = got {
                prop_assert_eq!(rest, &bytes[len..]);
            }
        }
    }
}
