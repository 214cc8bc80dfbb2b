//! Driving a context whose worker panics on purpose (`fault-injection`): a context with
//! memory persistence, wraps, and the restarts it reports. Needs `mod contexts;` beside it.

use std::sync::mpsc::Receiver;

use super::contexts::{ask, start_configured};
use storage::runtime::{Context, ManualClock, Request, RequestError, RuntimeEvent};

/// A context of participant `a` with memory persistence (or `extra` keys added to it),
/// on a manual clock at 1000 ms.
#[allow(dead_code)] // not every test binary including this module uses every item
pub fn start_memory(extra: &str) -> (ManualClock, Context, Receiver<RuntimeEvent>) {
    let clock = ManualClock::new(1_000);
    let config =
        format!(r#"{{"participant_id": "a", "persistence": {{"kind": "memory"}}{extra}}}"#);
    let (ctx, events) = start_configured(&config, &clock).expect("start");
    (clock, ctx, events)
}

/// Wraps `x` as message `id` on `channel`, waiting for the outcome.
#[allow(dead_code)]
pub fn wrap(ctx: &Context, channel: &str, id: &str) -> Result<Vec<u8>, RequestError> {
    ask(ctx, |reply| Request::Wrap {
        channel_id: channel.into(),
        message_id: id.into(),
        content: b"x".to_vec(),
        reply,
    })
}

/// The `worker_restarted` events received so far.
#[allow(dead_code)]
pub fn restarts(events: &Receiver<RuntimeEvent>) -> Vec<RuntimeEvent> {
    events
        .try_iter()
        .filter(|e| matches!(e, RuntimeEvent::WorkerRestarted { .. }))
        .collect()
}

/// How many messages `channel` holds unacknowledged (`None`: no such channel).
#[allow(dead_code)]
pub fn outgoing_len(ctx: &Context, channel: &str) -> Option<usize> {
    ask(ctx, |reply| Request::ChannelStats {
        channel_id: channel.into(),
        reply,
    })
    .expect("stats")
    .map(|stats| stats.outgoing_len)
}

/// The answers of requests queued with [`queue_wraps`]: (position, outcome), in the order
/// they came.
#[allow(dead_code)]
pub type Answers = Receiver<(usize, Result<Vec<u8>, RequestError>)>;

/// Queues one wrap per channel of `channels`, without waiting; each answer goes to the
/// returned receiver with the wrap's position.
#[allow(dead_code)]
pub fn queue_wraps(ctx: &Context, channels: &[&str]) -> Answers {
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, channel) in channels.iter().enumerate() {
        let tx = tx.clone();
        ctx.submit(Request::Wrap {
            channel_id: (*channel).into(),
            message_id: format!("q{i}"),
            content: b"x".to_vec(),
            reply: storage::runtime::Reply::new(move |result| {
                let _ = tx.send((i, result));
            }),
        });
    }
    rx
}

/// Exactly `n` answers from `answers`, checking that none comes twice (nothing more is
/// answered once every request queued before a ping has run).
#[allow(dead_code)]
pub fn exactly_once(
    ctx: &Context,
    answers: &Answers,
    n: usize,
) -> Vec<(usize, Result<Vec<u8>, RequestError>)> {
    let got: Vec<_> = (0..n)
        .map(|_| {
            answers
                .recv_timeout(super::contexts::WAIT)
                .expect("every request is answered")
        })
        .collect();
    ask(ctx, |reply| Request::Ping { reply }).expect("ping");
    assert!(answers.try_recv().is_err(), "a request was answered twice");
    got
}

/// Starts recording `name`, every channel, sent messages included.
#[allow(dead_code)]
pub fn record_sent(ctx: &Context, name: &str) {
    ask(ctx, |reply| Request::RecordingStart {
        name: name.into(),
        options_json: r#"{"channels": "all", "record_sent": true}"#.into(),
        reply,
    })
    .expect("recording starts");
}
