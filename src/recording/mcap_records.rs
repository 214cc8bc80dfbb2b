//! Serialising MCAP records with the `mcap` crate's own record types, so field layouts
//! come from the crate and not from us.

use std::io::Cursor;

use binrw::BinWrite;

/// `record` framed as an MCAP record: opcode, little-endian u64 body length, body.
pub(super) fn record_bytes<T>(opcode: u8, record: &T) -> Vec<u8>
where
    T: BinWrite,
    for<'a> T::Args<'a>: Default,
{
    let mut bytes = Cursor::new(vec![opcode; 9]);
    bytes.set_position(9);
    // Writing into memory cannot fail: the records hold no fallible fields.
    let _ = record.write_le(&mut bytes);
    let mut bytes = bytes.into_inner();
    let body_len = (bytes.len() - 9) as u64;
    bytes[1..9].copy_from_slice(&body_len.to_le_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcap::records::{op, DataEnd};

    #[test]
    fn frames_a_record_with_opcode_and_length() {
        let bytes = record_bytes(
            op::DATA_END,
            &DataEnd {
                data_section_crc: 0x0403_0201,
            },
        );
        assert_eq!(bytes, [op::DATA_END, 4, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    }
}
