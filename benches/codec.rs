//! Wire and snapshot codec speed, and the libsds API's decimal text.
//!
//! A default nim-sds message carries an 18 752-byte bloom filter and up to 10 causal
//! history entries; a channel's meta is saved after every operation.

#[path = "../tests/common/messages.rs"]
mod messages;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use messages::{noise, without_bloom};
use storage::ffi::testing::{
    libsds_unwrap_result, libsds_wrap_result, native_event, native_event_by_serde,
};
use storage::persistence::{decode_channel_meta, encode_channel_meta};
use storage::protocol::{
    decode_message, encode_message, encode_message_into, encode_message_with_bloom, ChannelMeta,
    Event, HistoryEntry, OutgoingEntry, SdsMessage, UnwrapStatus, Unwrapped,
};

const BLOOM_BYTES: usize = 18_752;
const CHANNEL: &str = "robot-fleet/telemetry";

fn history(n: usize, tag: &str) -> Vec<HistoryEntry> {
    (0..n)
        .map(|i| HistoryEntry {
            message_id: format!("{tag}-msg-{i:06}"),
            retrieval_hint: noise(i as u64, 32),
            sender_id: format!("participant-{}", i % 4),
        })
        .collect()
}

fn typical_message() -> SdsMessage {
    SdsMessage {
        message_id: "0f3c9a1e-msg-001234".into(),
        lamport_timestamp: 1_763_820_000_123,
        causal_history: history(10, "h"),
        channel_id: CHANNEL.into(),
        content: noise(7, 256),
        bloom_filter: noise(11, BLOOM_BYTES),
        sender_id: "participant-1".into(),
        repair_request: Vec::new(),
    }
}

fn meta_with_100_outgoing() -> ChannelMeta {
    ChannelMeta {
        lamport_timestamp: 1_763_820_000_500,
        outgoing: (0..100)
            .map(|i| OutgoingEntry {
                message: SdsMessage {
                    message_id: format!("out-{i:06}"),
                    lamport_timestamp: 1_763_820_000_000 + i,
                    causal_history: history(10, "c"),
                    channel_id: CHANNEL.into(),
                    content: noise(i as u64, 100),
                    bloom_filter: Vec::new(),
                    sender_id: "participant-1".into(),
                    repair_request: Vec::new(),
                },
                send_time_ms: 1_700_000_000_000 + i as u64,
                resend_attempts: (i % 3) as u32,
                bloom_hits: 0,
            })
            .collect(),
        ..ChannelMeta::default()
    }
}

fn wire(c: &mut Criterion) {
    let msg = typical_message();
    let bytes = encode_message(&msg);
    let bloom = msg.bloom_filter.clone();
    let bare = without_bloom(&msg);

    let mut g = c.benchmark_group("wire");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("encode_message (18 KB bloom, 10 history)", |b| {
        b.iter(|| encode_message(black_box(&msg)))
    });
    g.bench_function("encode_message_into reused buffer", |b| {
        let mut buf = Vec::with_capacity(bytes.len());
        b.iter(|| {
            buf.clear();
            encode_message_into(black_box(&msg), &mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("encode_message_with_bloom", |b| {
        b.iter(|| encode_message_with_bloom(black_box(&bare), black_box(&bloom)))
    });
    g.bench_function("decode_message (18 KB bloom, 10 history)", |b| {
        b.iter(|| decode_message(black_box(&bytes)))
    });
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    let meta = meta_with_100_outgoing();
    let bytes = encode_channel_meta(&meta);

    let mut g = c.benchmark_group("snapshot");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("encode_channel_meta (100 outgoing)", |b| {
        b.iter(|| encode_channel_meta(black_box(&meta)))
    });
    g.bench_function("decode_channel_meta (100 outgoing)", |b| {
        b.iter(|| decode_channel_meta(black_box(&bytes)))
    });
    g.finish();
}

/// The libsds wrap result: a default message as comma-separated decimal text (the text
/// libsds clients parse back; throughput in input bytes).
fn libsds_text(c: &mut Criterion) {
    let bytes = encode_message(&typical_message());
    let mut g = c.benchmark_group("libsds");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function(
        "libsds_wrap_result (decimal text of a default message)",
        |b| b.iter(|| libsds_wrap_result(black_box(&bytes))),
    );
    g.finish();
}

/// The event writer on the hot path: native events as the sink writes them.
fn json_events(c: &mut Criterion) {
    let mut g = c.benchmark_group("json");
    for len in [100usize, 65_536] {
        let ready = Event::MessageReady {
            channel_id: CHANNEL.into(),
            message_id: "0f3c9a1e-msg-001234".into(),
            sender_id: "participant-1".into(),
            lamport_timestamp: 1_763_820_000_123,
            content: noise(3, len),
        };
        g.bench_function(format!("message_ready {len} B, fast"), |b| {
            b.iter(|| native_event(black_box(&ready)))
        });
        g.bench_function(format!("message_ready {len} B, serde"), |b| {
            b.iter(|| native_event_by_serde(black_box(&ready)))
        });
    }
    let missing = Event::MissingDependencies {
        channel_id: CHANNEL.into(),
        message_id: "0f3c9a1e-msg-001234".into(),
        missing: history(10, "d"),
    };
    g.bench_function("missing_dependencies 10, fast", |b| {
        b.iter(|| native_event(black_box(&missing)))
    });
    g.bench_function("missing_dependencies 10, serde", |b| {
        b.iter(|| native_event_by_serde(black_box(&missing)))
    });
    let sent = Event::MessageSent {
        channel_id: CHANNEL.into(),
        message_id: "0f3c9a1e-msg-001234".into(),
    };
    g.bench_function("message_sent, fast", |b| {
        b.iter(|| native_event(black_box(&sent)))
    });
    g.bench_function("message_sent, serde", |b| {
        b.iter(|| native_event_by_serde(black_box(&sent)))
    });
    let u = Unwrapped {
        channel_id: "c".into(),
        message_id: "m".into(),
        sender_id: "s".into(),
        content: noise(5, 256),
        status: UnwrapStatus::Delivered,
        missing: Vec::new(),
    };
    g.bench_function("libsds unwrap 256 B, fast", |b| {
        b.iter(|| libsds_unwrap_result(black_box(&u)))
    });
    g.bench_function("libsds unwrap 256 B, serde", |b| b.iter(|| serde_json::to_vec(&serde_json::json!({"message": &u.content, "channelId": &u.channel_id, "missingDeps": []}))));
    g.finish();
}

criterion_group!(benches, wire, snapshot, libsds_text, json_events);
criterion_main!(benches);
