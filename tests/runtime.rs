//! The worker runtime: requests and replies, events before replies, timers driven by an
//! injected clock, calls from inside callbacks, shutdown.

#[path = "common/contexts.rs"]
mod contexts;

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use contexts::{ask, reply, start_configured, WAIT};
use storage::protocol::{Event, UnwrapStatus, Unwrapped};
use storage::runtime::{
    Context, ContextConfig, ContextError, EventSink, ManualClock, Reply, Request, RequestError,
    RuntimeEvent,
};

const CH: &str = "chan";
const T0: u64 = 1_700_000_000_000;

fn start(participant: &str, clock: &ManualClock) -> (Context, Receiver<RuntimeEvent>) {
    let config = format!(r#"{{"participant_id": "{participant}", "resend_interval_ms": 1000}}"#);
    start_configured(&config, clock).expect("context starts")
}

fn wrap(ctx: &Context, id: &str, content: &[u8]) -> Vec<u8> {
    ask(ctx, |reply| Request::Wrap {
        channel_id: CH.into(),
        message_id: id.into(),
        content: content.to_vec(),
        reply,
    })
    .expect("wrap ok")
}

fn unwrap(ctx: &Context, bytes: &[u8]) -> Unwrapped {
    let bytes = bytes.to_vec();
    ask(ctx, |reply| Request::Unwrap { bytes, reply }).expect("unwrap ok")
}

fn tick(ctx: &Context) {
    // A stats request after the tick returns once the tick has been handled.
    ctx.submit(Request::Tick);
    let channel_id = CH.into();
    ask(ctx, |reply| Request::ChannelStats { channel_id, reply }).expect("stats");
}

fn drain(rx: &Receiver<RuntimeEvent>) -> Vec<RuntimeEvent> {
    rx.try_iter().collect()
}

#[test]
fn two_contexts_exchange_messages_and_events_precede_replies() {
    let clock = ManualClock::new(T0);
    let (alice, _alice_events) = start("alice", &clock);
    let (bob, bob_events) = start("bob", &clock);
    let bytes = wrap(&alice, "m1", b"hello");
    let out = unwrap(&bob, &bytes);
    assert_eq!(out.status, UnwrapStatus::Delivered);
    // The ready event was delivered before the reply, so it is already there.
    let events = drain(&bob_events);
    assert!(matches!(&events[..],
        [RuntimeEvent::Protocol(Event::MessageReady { message_id, .. })] if message_id == "m1"));
}

#[test]
fn errors_come_back_through_the_reply() {
    let clock = ManualClock::new(T0);
    let (ctx, _events) = start("a", &clock);
    let err = ask(&ctx, |reply| Request::Wrap {
        channel_id: CH.into(),
        message_id: "m".into(),
        content: Vec::new(),
        reply,
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "message content is empty");
}

#[test]
fn periodic_tasks_follow_the_injected_clock() {
    let clock = ManualClock::new(T0);
    let (ctx, events) = start("a", &clock);
    wrap(&ctx, "m1", b"x");
    for _ in 0..2 {
        let (reply, rx) = reply();
        ctx.submit(Request::StartPeriodicTasks { reply });
        rx.recv_timeout(WAIT).unwrap().unwrap();
    }
    tick(&ctx);
    let first = drain(&events);
    assert_eq!(
        first,
        vec![
            RuntimeEvent::SyncTick,
            RuntimeEvent::Protocol(Event::PeriodicSync {
                channel_id: CH.into()
            })
        ],
        "one sync per channel at start, even when started twice"
    );

    // Nothing is due until the clock moves; then the sweep resends m1.
    tick(&ctx);
    assert!(drain(&events).is_empty());
    clock.advance(60_001);
    tick(&ctx);
    let later = drain(&events);
    assert!(later.iter().any(|e| matches!(e,
        RuntimeEvent::Protocol(Event::Resend { message_id, .. }) if message_id == "m1")));
    assert!(later.contains(&RuntimeEvent::SyncTick));
}

/// A sink that, on every ready event, asks the same context (from its worker thread)
/// for channel statistics and tries to free it.
struct ReentrantSink {
    context: Arc<Mutex<Option<Arc<Context>>>>,
    outcomes: Sender<(bool, Option<ContextError>)>,
}

impl EventSink for ReentrantSink {
    fn deliver(&mut self, event: RuntimeEvent) {
        if !matches!(event, RuntimeEvent::Protocol(Event::MessageReady { .. })) {
            return;
        }
        let Some(ctx) = self.context.lock().unwrap().clone() else {
            return;
        };
        let outcomes = self.outcomes.clone();
        let freed = ctx.shutdown().err();
        ctx.submit(Request::ChannelStats {
            channel_id: CH.into(),
            reply: Reply::new(move |stats| {
                let _ = outcomes.send((matches!(stats, Ok(Some(_))), freed));
            }),
        });
    }
}

#[test]
fn calls_from_inside_a_callback_neither_deadlock_nor_free() {
    let clock = ManualClock::new(T0);
    let slot = Arc::new(Mutex::new(None));
    let (tx, rx) = channel();
    let ctx = Arc::new(
        Context::start(
            ContextConfig::from_json(r#"{"participant_id": "b", "request_queue_capacity": 1}"#)
                .unwrap(),
            Arc::new(clock.clone()),
            Box::new(ReentrantSink {
                context: slot.clone(),
                outcomes: tx,
            }),
        )
        .unwrap(),
    );
    *slot.lock().unwrap() = Some(ctx.clone());
    let (sender, _) = start("a", &clock);
    for i in 0..5 {
        unwrap(&ctx, &wrap(&sender, &format!("m{i}"), b"x"));
    }
    for _ in 0..5 {
        let (got_stats, free_error) = rx.recv_timeout(WAIT).expect("reentrant request answered");
        assert!(got_stats);
        assert_eq!(free_error, Some(ContextError::ShutdownFromCallback));
    }
    *slot.lock().unwrap() = None; // break the cycle so the context can be freed
    ctx.shutdown().unwrap();
}

#[test]
fn shutdown_fails_queued_requests_and_nothing_runs_after_it() {
    let clock = ManualClock::new(T0);
    let (ctx, events) = start("a", &clock);
    let mut answers = Vec::new();
    for i in 0..200 {
        let (reply, rx) = reply::<Vec<u8>>();
        ctx.submit(Request::Wrap {
            channel_id: CH.into(),
            message_id: format!("m{i}"),
            content: b"x".to_vec(),
            reply,
        });
        answers.push(rx);
    }
    ctx.shutdown().unwrap();
    ctx.shutdown().unwrap(); // idempotent
    let mut ok = 0;
    for rx in &answers {
        match rx
            .try_recv()
            .expect("every request was answered before shutdown returned")
        {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e, RequestError::ShuttingDown),
        }
    }
    assert!(ok <= 200);
    // After shutdown, requests are refused at once and no event arrives.
    let (reply, rx) = reply::<Vec<u8>>();
    ctx.submit(Request::BuildSyncMessage {
        channel_id: CH.into(),
        reply,
    });
    assert_eq!(rx.try_recv().unwrap(), Err(RequestError::ShuttingDown));
    drop(events);
}

#[test]
fn contexts_start_and_stop_many_times() {
    let clock = ManualClock::new(T0);
    for i in 0..200 {
        let (ctx, _events) = start(&format!("p{i}"), &clock);
        if i % 2 == 0 {
            wrap(&ctx, "m", b"x");
        }
        ctx.shutdown().unwrap();
    }
}
