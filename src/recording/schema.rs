//! The protobuf schema embedded in every recording, so Foxglove (or any protobuf reader)
//! can decode the recorded messages: a `FileDescriptorSet` of `sds.SdsMessage` with the
//! field numbers of the wire codec ([`crate::protocol::wire`]), which differ from the
//! written spec.

use std::sync::OnceLock;

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet};

/// Fully qualified name of the recorded message type (the MCAP schema name).
pub(crate) const SCHEMA_NAME: &str = "sds.SdsMessage";
/// MCAP schema encoding of [`schema_bytes`].
pub(crate) const SCHEMA_ENCODING: &str = "protobuf";
/// MCAP message encoding of recorded messages.
pub(crate) const MESSAGE_ENCODING: &str = "protobuf";

fn field(
    name: &str,
    number: i32,
    kind: Type,
    label: Label,
    type_name: Option<&str>,
) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.to_owned()),
        number: Some(number),
        label: Some(label as i32),
        r#type: Some(kind as i32),
        type_name: type_name.map(str::to_owned),
        json_name: None,
        ..FieldDescriptorProto::default()
    }
}

fn descriptor_set() -> FileDescriptorSet {
    use Label::{Optional, Repeated};
    let entry = ".sds.HistoryEntry";
    let history_entry = DescriptorProto {
        name: Some("HistoryEntry".into()),
        field: vec![
            field("message_id", 1, Type::String, Optional, None),
            field("retrieval_hint", 2, Type::Bytes, Optional, None),
            field("sender_id", 3, Type::String, Optional, None),
        ],
        ..DescriptorProto::default()
    };
    let message = DescriptorProto {
        name: Some("SdsMessage".into()),
        field: vec![
            field("message_id", 1, Type::String, Optional, None),
            field("lamport_timestamp", 2, Type::Int64, Optional, None),
            field("causal_history", 3, Type::Message, Repeated, Some(entry)),
            field("channel_id", 4, Type::String, Optional, None),
            field("content", 5, Type::Bytes, Optional, None),
            field("bloom_filter", 6, Type::Bytes, Optional, None),
            field("sender_id", 7, Type::String, Optional, None),
            field("repair_request", 13, Type::Message, Repeated, Some(entry)),
        ],
        ..DescriptorProto::default()
    };
    FileDescriptorSet {
        file: vec![FileDescriptorProto {
            name: Some("sds.proto".into()),
            package: Some("sds".into()),
            message_type: vec![history_entry, message],
            syntax: Some("proto3".into()),
            ..FileDescriptorProto::default()
        }],
    }
}

/// The serialized `FileDescriptorSet` (built once).
pub(crate) fn schema_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| descriptor_set().encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::{HistoryEntry, SdsMessage};
    use crate::protocol::wire;

    #[test]
    fn the_schema_parses_and_names_every_wire_field() {
        let set = FileDescriptorSet::decode(schema_bytes()).expect("a FileDescriptorSet");
        let file = &set.file[0];
        assert_eq!(file.package(), "sds");
        let message = file
            .message_type
            .iter()
            .find(|m| m.name() == "SdsMessage")
            .expect("SdsMessage");
        let numbers: Vec<(&str, i32)> = message
            .field
            .iter()
            .map(|f| (f.name(), f.number()))
            .collect();
        assert_eq!(
            numbers,
            [
                ("message_id", 1),
                ("lamport_timestamp", 2),
                ("causal_history", 3),
                ("channel_id", 4),
                ("content", 5),
                ("bloom_filter", 6),
                ("sender_id", 7),
                ("repair_request", 13)
            ]
        );
    }

    /// prost's own decoder, driven by the same numbers, reads what the wire codec writes.
    #[test]
    fn recorded_bytes_decode_with_the_schema_numbers() {
        #[derive(Clone, PartialEq, prost::Message)]
        struct Entry {
            #[prost(string, tag = "1")]
            message_id: String,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct Sds {
            #[prost(string, tag = "1")]
            message_id: String,
            #[prost(int64, tag = "2")]
            lamport_timestamp: i64,
            #[prost(message, repeated, tag = "3")]
            causal_history: Vec<Entry>,
            #[prost(string, tag = "4")]
            channel_id: String,
            #[prost(bytes = "vec", tag = "5")]
            content: Vec<u8>,
            #[prost(string, tag = "7")]
            sender_id: String,
        }
        let msg = SdsMessage {
            message_id: "m1".into(),
            lamport_timestamp: 42,
            causal_history: vec![HistoryEntry::new("m0")],
            channel_id: "ch".into(),
            content: b"hi".to_vec(),
            sender_id: "alice".into(),
            ..SdsMessage::default()
        };
        let decoded =
            Sds::decode(wire::encode_message_with_bloom(&msg, &[]).as_slice()).expect("decodes");
        assert_eq!(decoded.message_id, "m1");
        assert_eq!(decoded.lamport_timestamp, 42);
        assert_eq!(decoded.causal_history[0].message_id, "m0");
        assert_eq!(decoded.channel_id, "ch");
        assert_eq!(decoded.content, b"hi");
        assert_eq!(decoded.sender_id, "alice");
    }
}
