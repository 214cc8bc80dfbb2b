//! The worker survives its own panics under the restart policy (`restart` section): the
//! request that panicked fails with the panic, state comes back from persistence, queued
//! requests run in order, and a spent budget fails the context.

#[path = "common/contexts.rs"]
mod contexts;
#[path = "common/restarts.rs"]
mod restarts;

use contexts::{ask, start_configured};
use restarts::{outgoing_len, restarts, start_memory, wrap};
use storage::runtime::{ManualClock, Request, RequestError, RuntimeEvent};
use storage::{arm_fault, FaultPoint};

#[test]
fn a_panic_in_a_request_fails_it_and_the_worker_restarts_from_persistence() {
    let (_clock, ctx, events) = start_memory("");
    wrap(&ctx, "wr-req", "m1").expect("first wrap");
    arm_fault(FaultPoint::Request, "wr-req");
    match wrap(&ctx, "wr-req", "m2") {
        Err(RequestError::Panic(message)) => {
            assert!(message.contains("injected fault"), "{message}");
            assert!(message.contains("wrap request"), "{message}");
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
    // The worker carries on with the next request.
    wrap(&ctx, "wr-req", "m3").expect("wrap after the restart");
    let restarted = restarts(&events);
    assert_eq!(restarted.len(), 1, "{restarted:?}");
    let RuntimeEvent::WorkerRestarted {
        restart_count,
        failed_requests,
        state_lost,
        channels_reloaded,
        channels_lost,
        reason,
        ..
    } = &restarted[0]
    else {
        unreachable!()
    };
    assert_eq!(*restart_count, 1);
    assert_eq!(*failed_requests, 1);
    assert!(!state_lost);
    assert_eq!(channels_reloaded, &["wr-req".to_owned()]);
    assert!(channels_lost.is_empty());
    assert!(reason.contains("injected fault"), "{reason}");
    // State after the restart is the persisted one: m1 and m2 (saved before the panic)
    // and m3 are all in the outgoing buffer.
    assert_eq!(outgoing_len(&ctx, "wr-req"), Some(3));
    ctx.shutdown().expect("free after a restart");
}

#[test]
fn with_no_persistence_the_event_says_the_state_is_lost() {
    let clock = ManualClock::new(1_000);
    let (ctx, events) = start_configured(r#"{"participant_id": "a"}"#, &clock).expect("start");
    wrap(&ctx, "wr-none", "m1").expect("wrap");
    arm_fault(FaultPoint::Request, "wr-none");
    assert!(matches!(
        wrap(&ctx, "wr-none", "m2"),
        Err(RequestError::Panic(_))
    ));
    ask(&ctx, |reply| Request::Ping { reply }).expect("ping");
    let restarted = restarts(&events);
    let [RuntimeEvent::WorkerRestarted {
        state_lost,
        channels_lost,
        channels_reloaded,
        ..
    }] = restarted.as_slice()
    else {
        panic!("{restarted:?}")
    };
    assert!(*state_lost);
    assert_eq!(channels_lost, &["wr-none".to_owned()]);
    assert!(channels_reloaded.is_empty());
    assert_eq!(outgoing_len(&ctx, "wr-none"), None);
}

#[test]
fn a_panic_in_a_save_restarts_with_the_state_before_it() {
    let (_clock, ctx, _events) = start_memory("");
    wrap(&ctx, "wr-save", "m1").expect("wrap");
    arm_fault(FaultPoint::Save, "wr-save");
    assert!(matches!(
        wrap(&ctx, "wr-save", "m2"),
        Err(RequestError::Panic(_))
    ));
    // m2 was never saved: only m1 comes back.
    assert_eq!(outgoing_len(&ctx, "wr-save"), Some(1));
}

#[test]
fn a_spent_budget_fails_the_context_saying_so() {
    let (_clock, ctx, _events) = start_memory(r#", "restart": {"policy": "once"}"#);
    for _ in 0..2 {
        arm_fault(FaultPoint::Request, "wr-budget");
        assert!(matches!(
            wrap(&ctx, "wr-budget", "m"),
            Err(RequestError::Panic(_))
        ));
    }
    match wrap(&ctx, "wr-budget", "later") {
        Err(RequestError::WorkerStopped(reason)) => {
            assert!(reason.contains("budget exhausted"), "{reason}")
        }
        other => panic!("expected the context to have failed, got {other:?}"),
    }
    ctx.shutdown().expect("free a failed context");
}

#[test]
fn a_panic_in_a_timer_restarts_the_worker_and_answers_nothing_twice() {
    let (clock, ctx, events) = start_memory("");
    wrap(&ctx, "wr-timer", "m1").expect("wrap");
    ask(&ctx, |reply| Request::StartPeriodicTasks { reply }).expect("start timers");
    arm_fault(FaultPoint::Timer, "wr-timer");
    clock.advance(120_000);
    ctx.submit(Request::Tick);
    ask(&ctx, |reply| Request::Ping { reply }).expect("the worker carries on");
    let restarted = restarts(&events);
    let [RuntimeEvent::WorkerRestarted {
        failed_requests,
        channels_reloaded,
        ..
    }] = restarted.as_slice()
    else {
        panic!("{restarted:?}")
    };
    assert_eq!(*failed_requests, 0);
    assert_eq!(channels_reloaded, &["wr-timer".to_owned()]);
    wrap(&ctx, "wr-timer", "m2").expect("wrap after the restart");
}
