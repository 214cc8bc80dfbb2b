//! The fast writer of the documents on the message path: compact objects written
//! straight into one buffer, keys in call order, no intermediate `serde_json::Value`,
//! base64 encoded in place; and the libsds dialect's decimal lists.
//!
//! It writes documents whose one declaration is a typed definition in [`super::json`];
//! tests there compare its output with serde's for that definition, byte for byte.
//! Keys are fixed ASCII names that need no escaping; every string value goes through
//! serde_json's escaping, so ids with quotes, backslashes, control characters or any
//! UTF-8 stay valid JSON.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use std::io::Write as _;

/// A JSON object being written into a buffer: `{"key":value,...}`.
pub(crate) struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> JsonObject<'a> {
    /// Opens an object at the end of `out`; [`Self::end`] closes it.
    pub(super) fn begin(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Closes the object.
    pub(super) fn end(self) {
        self.out.push(b'}');
    }

    /// Appends `"key":` after a comma where needed, and gives the buffer for the value.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        push_key(self.out, key);
        self.out
    }

    /// A string member.
    pub(super) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        push_json_str(self.key(key), value);
        self
    }

    /// A member whose value is `bytes` in base64 (standard alphabet, padded).
    pub(super) fn base64(&mut self, key: &str, bytes: &[u8]) -> &mut Self {
        push_base64(self.key(key), bytes);
        self
    }

    /// An integer member.
    pub(super) fn int(&mut self, key: &str, value: impl Into<serde_json::Number>) -> &mut Self {
        // Writing into a Vec cannot fail.
        let _ = write!(self.key(key), "{}", value.into());
        self
    }

    /// A member whose value `write` appends itself (an array, a nested object).
    pub(super) fn with(&mut self, key: &str, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        write(self.key(key));
        self
    }
}

/// A whole document: one object whose members `write` adds, in a buffer of `capacity`.
pub(crate) fn object_bytes(capacity: usize, write: impl FnOnce(&mut JsonObject)) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    let mut object = JsonObject::begin(&mut out);
    write(&mut object);
    object.end();
    out
}

/// Appends a JSON array whose items `write_item` appends, separated by commas.
pub(crate) fn push_array<T>(
    out: &mut Vec<u8>,
    items: &[T],
    mut write_item: impl FnMut(&mut Vec<u8>, &T),
) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_item(out, item);
    }
    out.push(b']');
}

/// Appends `s` as a JSON string literal, escaped by serde_json.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Written straight into `out`; serializing a string into a Vec cannot fail, but if it
    // ever did the document would still be valid JSON.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// Appends `"key":` (keys are fixed ASCII names that need no escaping).
fn push_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends `bytes` as a base64 JSON string (the base64 alphabet needs no escaping),
/// encoded in place.
pub(crate) fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.resize(start + len, 0);
    let written = BASE64.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

/// For each byte value, its decimal digits and a comma, padded with commas to 4 bytes, in
/// the low 32 bits (little-endian byte order), and in bits 32.. how many of those 4 bytes
/// to keep: one load per byte of input.
static DECIMAL: [u64; 256] = decimal_table();

/// Builds [`DECIMAL`].
const fn decimal_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let (text, keep) = if b >= 100 {
            ([b'0' + b / 100, b'0' + b / 10 % 10, b'0' + b % 10, b','], 4)
        } else if b >= 10 {
            ([b'0' + b / 10, b'0' + b % 10, b',', b','], 3)
        } else {
            ([b'0' + b, b',', b',', b','], 2)
        };
        table[i] = u32::from_le_bytes(text) as u64 | (keep << 32);
        i += 1;
    }
    table
}

/// Appends `bytes` as comma-separated decimal numbers, no spaces (nothing when empty).
///
/// Runs near memory speed: each byte stores a fixed 4-byte chunk from [`DECIMAL`] straight
/// into `out`'s spare capacity and advances by the chunk's length; no formatting
/// machinery, no branch on the number of digits, no zero-filling of the room first.
pub(crate) fn push_decimal_list(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    // At most 4 bytes per number, and every 4-byte store starts at most at the end of the
    // previous numbers, so all stores stay within this room.
    let room = bytes.len().saturating_mul(4);
    out.reserve(room);
    let start = out.len();
    let spare = out.spare_capacity_mut();
    // `reserve` guarantees the room (it aborts or panics otherwise); checked, not assumed.
    assert!(spare.len() >= room);
    let dst = spare.as_mut_ptr().cast::<u8>();
    let mut end = 0usize;
    for &b in bytes {
        let entry = DECIMAL[usize::from(b)];
        // SAFETY: `end <= 4 * i` before number `i` (each number advances by at most 4), so
        // the 4 bytes at `dst + end` lie within the `room` bytes of spare capacity checked
        // above; an unaligned store into capacity we own.
        unsafe { dst.add(end).cast::<u32>().write_unaligned(entry as u32) };
        end += (entry >> 32) as usize;
    }
    // SAFETY: the first `end` bytes of the spare capacity were written above (each store
    // covered the bytes up to the next number's start); `end - 1` drops the last comma.
    unsafe { out.set_len(start + end - 1) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_members_in_call_order() {
        let doc = object_bytes(0, |o| {
            o.str("a", "x\"y")
                .int("b", -3i64)
                .int("c", u64::MAX)
                .base64("d", b"hi")
                .with("e", |out| {
                    push_array(out, &[1u8, 2], |out, b| push_decimal_list(out, &[*b]))
                })
                .with("f", |out| JsonObject::begin(out).end());
        });
        assert_eq!(
            doc,
            br#"{"a":"x\"y","b":-3,"c":18446744073709551615,"d":"aGk=","e":[1,2],"f":{}}"#
        );
        assert_eq!(object_bytes(8, |_| {}), b"{}");
    }

    #[test]
    fn every_byte_value_is_written_as_its_decimal_number() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut out = b"x".to_vec();
        push_decimal_list(&mut out, &bytes);
        let want: Vec<String> = bytes.iter().map(u8::to_string).collect();
        assert_eq!(out, format!("x{}", want.join(",")).into_bytes());
        let mut empty = Vec::new();
        push_decimal_list(&mut empty, &[]);
        assert!(empty.is_empty());
    }

    #[test]
    fn base64_in_place_matches_the_engine() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
            let mut out = Vec::new();
            push_base64(&mut out, &bytes);
            assert_eq!(out, format!("\"{}\"", BASE64.encode(&bytes)).into_bytes());
        }
    }
}
