//! The two wire dialects of an SDS message: one field-number table each, and the rule
//! that tells them apart on receipt. The codec (`protocol::wire`) is the same for both.
//!
//! | field               | nim-sds (`nim`) | SDS spec / `@waku/sds` (`spec`) |
//! | ------------------- | --------------- | ------------------------------- |
//! | `message_id`        | 1               | 2                               |
//! | `lamport_timestamp` | 2               | 10 (absent: ephemeral)          |
//! | `causal_history`    | 3               | 11                              |
//! | `channel_id`        | 4               | 3                               |
//! | `content`           | 5               | 20                              |
//! | `bloom_filter`      | 6               | 12                              |
//! | `sender_id`         | 7               | 1                               |
//! | `repair_request`    | 13              | 13                              |
//!
//! `HistoryEntry` is numbered alike in both (`message_id` 1, `retrieval_hint` 2,
//! `sender_id` 3).
//!
//! # Detection (per received message)
//!
//! 1. A message with a field 2 of wire type varint is `nim`: nim-sds always writes its
//!    Lamport timestamp there (even 0) and requires it, while the spec's field 2 is a
//!    string (`message_id`, wire type 2).
//! 2. Otherwise a message with a field 10 of wire type varint or a field 20 of wire type 2
//!    is `spec`: every spec message but a malformed one carries its Lamport timestamp
//!    (content and sync messages) or its content (ephemeral messages).
//! 3. Anything else is read with the nim rules, so it is refused exactly as before (for
//!    example "missing required field `lamport_timestamp`").
//!
//! The rule is unambiguous because rule 1 needs the one field nim-sds never omits, with a
//! wire type the spec never uses for it; empty optional fields, sync messages (no content)
//! and ephemeral messages (no Lamport timestamp) all have a field that decides, and unknown
//! fields never do.

use serde::{Deserialize, Serialize};

use super::protobuf::{FieldReader, FieldValue};

/// A wire dialect: which field numbers an SDS message is written with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(test, derive(schemars::JsonSchema))]
pub enum WireFormat {
    /// nim-sds's numbering and bloom filter encoding (protobuf, little-endian words).
    #[default]
    Nim,
    /// The written SDS specification's numbering, as js-waku's `@waku/sds` speaks it; the
    /// bloom filter is the bare bit array as big-endian 64-bit words.
    Spec,
}

/// Field numbers of an `SdsMessage` in one dialect.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    pub(crate) message_id: u32,
    pub(crate) lamport: u32,
    pub(crate) causal_history: u32,
    pub(crate) channel_id: u32,
    pub(crate) content: u32,
    pub(crate) bloom: u32,
    pub(crate) sender_id: u32,
    pub(crate) repair_request: u32,
}

const NIM: Fields = Fields {
    message_id: 1,
    lamport: 2,
    causal_history: 3,
    channel_id: 4,
    content: 5,
    bloom: 6,
    sender_id: 7,
    repair_request: 13,
};

const SPEC: Fields = Fields {
    message_id: 2,
    lamport: 10,
    causal_history: 11,
    channel_id: 3,
    content: 20,
    bloom: 12,
    sender_id: 1,
    repair_request: 13,
};

impl WireFormat {
    /// The dialect's field numbers.
    pub(crate) fn fields(self) -> &'static Fields {
        match self {
            WireFormat::Nim => &NIM,
            WireFormat::Spec => &SPEC,
        }
    }

    /// The configuration spelling (`"nim"`, `"spec"`).
    pub fn as_str(self) -> &'static str {
        match self {
            WireFormat::Nim => "nim",
            WireFormat::Spec => "spec",
        }
    }
}

/// The dialect of a received message by the rule in the module docs. Reads framing only;
/// stops at the first framing error (the decoder then reports it).
pub(crate) fn detect(bytes: &[u8]) -> WireFormat {
    let mut reader = FieldReader::new(bytes);
    let mut spec = false;
    while let Ok(Some((number, value))) = reader.next_field() {
        match (number, value) {
            (2, FieldValue::Varint(_)) => return WireFormat::Nim,
            (10, FieldValue::Varint(_)) | (20, FieldValue::Bytes(_)) => spec = true,
            _ => {}
        }
    }
    if spec {
        WireFormat::Spec
    } else {
        WireFormat::Nim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("test hex")
    }

    #[test]
    fn nim_lamport_decides_even_when_spec_fields_follow() {
        assert_eq!(
            detect(&h("0a026d311001220263312a0568656c6c6f3200")),
            WireFormat::Nim
        );
        // A nim message carrying unknown fields 10 and 20 stays nim.
        assert_eq!(
            detect(&h("0a00 1000 2200 2a00 5001 a20100")),
            WireFormat::Nim
        );
        // The varint field 2 decides wherever it sits.
        assert_eq!(detect(&h("5001 1005")), WireFormat::Nim);
    }

    #[test]
    fn spec_lamport_or_content_decides() {
        // message_id as field 2 (a string), lamport 10: a spec content or sync message.
        assert_eq!(detect(&h("12026d31 1a026331 5001")), WireFormat::Spec);
        // Ephemeral: no lamport, content only.
        assert_eq!(detect(&h("12026d31 1a026331 a201016b")), WireFormat::Spec);
        // Empty optional fields omitted: only the lamport.
        assert_eq!(detect(&h("5000")), WireFormat::Spec);
        // Field 10 or 20 with the wrong wire type does not count.
        assert_eq!(detect(&h("12026d31 5201 00")), WireFormat::Nim);
        assert_eq!(detect(&h("12026d31 a00101")), WireFormat::Nim);
    }

    #[test]
    fn neither_falls_back_to_nim_rules() {
        for bytes in ["", "0a026d31", "12026d31 1a026331", "5a00 6a00", "0b026d31"] {
            assert_eq!(detect(&h(bytes)), WireFormat::Nim, "{bytes}");
        }
    }

    #[test]
    fn the_two_tables_differ_only_where_the_spec_says() {
        assert_eq!(NIM.repair_request, SPEC.repair_request);
        let nim = [
            NIM.message_id,
            NIM.lamport,
            NIM.causal_history,
            NIM.channel_id,
        ];
        let spec = [
            SPEC.message_id,
            SPEC.lamport,
            SPEC.causal_history,
            SPEC.channel_id,
        ];
        assert_eq!(nim, [1, 2, 3, 4]);
        assert_eq!(spec, [2, 10, 11, 3]);
        assert_eq!([SPEC.content, SPEC.bloom, SPEC.sender_id], [20, 12, 1]);
    }
}
