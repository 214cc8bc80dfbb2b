//! The worker survives its own panics under the restart policy (`restart` section): the
//! request that panicked fails with the panic, state comes back from persistence, queued
//! requests run in order, and a spent budget fails the context.

#[path = "common/contexts.rs"]
mod contexts;
#[path = "common/restarts.rs"]
mod restarts;
#[path = "common/scratch.rs"]
mod scratch;

use contexts::{ask, start_configured};
use restarts::{
    exactly_once, outgoing_len, queue_wraps, record_sent, restarts, start_memory, wrap,
};
use scratch::Scratch;
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

#[test]
fn queued_requests_are_each_answered_once_and_in_order_across_a_restart() {
    let (_clock, ctx, events) = start_memory("");
    let channels = ["wq-0", "wq-1", "wq-2", "wq-3", "wq-4"];
    arm_fault(FaultPoint::Request, "wq-2");
    let answers = queue_wraps(&ctx, &channels);
    let got = exactly_once(&ctx, &answers, channels.len());
    let order: Vec<usize> = got.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        order,
        [0, 1, 2, 3, 4],
        "replies keep the order of the requests"
    );
    for (i, result) in &got {
        match (i, result) {
            (2, Err(RequestError::Panic(_))) => {}
            (2, other) => panic!("the middle request should fail with the panic: {other:?}"),
            (_, result) => assert!(result.is_ok(), "request {i}: {result:?}"),
        }
    }
    assert_eq!(restarts(&events).len(), 1);
    for channel in channels {
        assert_eq!(outgoing_len(&ctx, channel), Some(1), "{channel}");
    }
}

#[test]
fn a_panic_in_a_group_commit_fails_the_uncommitted_group_and_keeps_the_committed_state() {
    let scratch = Scratch::new("wr-group");
    let config = format!(
        r#"{{"participant_id": "a", "persistence": {{"kind": "sqlite", "path": {:?}}}}}"#,
        scratch.file("state.db")
    );
    let clock = ManualClock::new(1_000);
    let (ctx, events) = start_configured(&config, &clock).expect("start");
    wrap(&ctx, "wg-0", "committed").expect("a first, committed wrap");
    // Hold the worker while the group is queued, so the five wraps share one commit.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    ctx.submit(Request::Completion(Box::new(move |_| {
        let _ = gate.recv();
    })));
    arm_fault(FaultPoint::Save, "wg-2");
    let answers = queue_wraps(&ctx, &["wg-0", "wg-1", "wg-2", "wg-3", "wg-4"]);
    release.send(()).expect("release the worker");
    let got = exactly_once(&ctx, &answers, 5);
    for (i, result) in &got {
        assert!(
            matches!(result, Err(RequestError::Panic(m)) if m.contains("group commit")),
            "request {i} was in the group that was never committed: {result:?}"
        );
    }
    let restarted = restarts(&events);
    let [RuntimeEvent::WorkerRestarted {
        failed_requests, ..
    }] = restarted.as_slice()
    else {
        panic!("{restarted:?}")
    };
    assert_eq!(*failed_requests, 5);
    // Only what was committed before the group remains.
    assert_eq!(outgoing_len(&ctx, "wg-0"), Some(1));
    assert_eq!(outgoing_len(&ctx, "wg-3"), None);
    ctx.shutdown().expect("free");
}

#[test]
fn free_works_at_every_fault_point_with_requests_queued() {
    for (point, channel) in [
        (FaultPoint::Request, "wf-request"),
        (FaultPoint::Save, "wf-save"),
        (FaultPoint::Timer, "wf-timer"),
        (FaultPoint::Recorder, "wf-recorder"),
    ] {
        let scratch = Scratch::new(channel);
        let (clock, ctx, events) = start_memory(&format!(
            r#", "recording": {{"root": {:?}}}"#,
            scratch.to_string_lossy()
        ));
        record_sent(&ctx, "wf-rec");
        ask(&ctx, |reply| Request::StartPeriodicTasks { reply }).expect("timers");
        arm_fault(point, channel);
        clock.advance(120_000);
        // The fault fires in the first three wraps or the tick; then, with three more
        // requests queued behind a held worker, the context is freed.
        let first = queue_wraps(&ctx, &[channel, channel, channel]);
        ctx.submit(Request::Tick);
        let (faulted, wait_faulted) = std::sync::mpsc::channel::<()>();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        ctx.submit(Request::Completion(Box::new(move |_| {
            let _ = faulted.send(());
            let _ = gate.recv();
        })));
        let queued = queue_wraps(&ctx, &[channel, channel, channel]);
        wait_faulted
            .recv_timeout(contexts::WAIT)
            .expect("the worker ran the fault");
        assert_eq!(restarts(&events).len(), 1, "{point:?} fired");
        let freeing = std::thread::spawn(move || ctx.shutdown());
        release.send(()).expect("release the worker");
        freeing
            .join()
            .expect("no panic")
            .expect("free with requests queued");
        // Every request got exactly one answer, whatever it was.
        for answers in [first, queued] {
            let order: Vec<usize> = answers.try_iter().map(|(i, _)| i).collect();
            assert_eq!(order, [0, 1, 2], "{point:?}");
        }
    }
}

#[test]
fn a_recorder_fault_restarts_the_worker_and_reopens_the_recording_sealed() {
    let scratch = Scratch::new("wr-rec");
    let (_clock, ctx, events) = start_memory(&format!(
        r#", "recording": {{"root": {:?}}}"#,
        scratch.to_string_lossy()
    ));
    record_sent(&ctx, "wr-rec");
    wrap(&ctx, "wr-rec-ch", "m1").expect("recorded");
    arm_fault(FaultPoint::Recorder, "wr-rec-ch");
    assert!(matches!(
        wrap(&ctx, "wr-rec-ch", "m2"),
        Err(RequestError::Panic(m)) if m.contains("injected fault")
    ));
    // The recording was sealed as it stood (chunk 0, with m1) and goes on.
    let mut seen = Vec::new();
    let sealed = loop {
        match events
            .recv_timeout(contexts::WAIT)
            .expect("the open chunk is sealed")
        {
            RuntimeEvent::ChunkSealed(chunk) => break chunk,
            other => seen.push(other),
        }
    };
    assert_eq!((sealed.recording.as_str(), sealed.index), ("wr-rec", 0));
    let restarted: Vec<_> = seen
        .into_iter()
        .filter(|e| matches!(e, RuntimeEvent::WorkerRestarted { .. }))
        .collect();
    let [RuntimeEvent::WorkerRestarted {
        recordings_reopened,
        ..
    }] = restarted.as_slice()
    else {
        panic!("{restarted:?}")
    };
    assert_eq!(recordings_reopened, &["wr-rec".to_owned()]);
    wrap(&ctx, "wr-rec-ch", "m3").expect("recorded after the restart");
    let summary = ask(&ctx, |reply| Request::RecordingStop {
        name: "wr-rec".into(),
        reply,
    })
    .expect("stop");
    let manifest = summary.manifest.expect("manifest");
    assert_eq!(manifest.chunks.len(), 2, "{manifest:?}");
    assert_eq!(summary.head.as_deref(), manifest.head.as_deref());
    let report = ask(&ctx, |reply| Request::RecordingVerify {
        name: "wr-rec".into(),
        anchor: Some(sealed.head.clone()),
        reply,
    })
    .expect("verify");
    assert!(report.ok, "{report:?}");
    assert_eq!(
        report.chain.anchor,
        Some("prefix"),
        "the restart rewrote no history"
    );
}

#[test]
fn a_flood_through_restarts_and_budget_exhaustion_answers_each_request_once_in_bounded_memory() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    const N: usize = 2_000;
    const CAPACITY: usize = 16;
    let (_clock, ctx, _events) = start_memory(&format!(
        r#", "restart": {{"policy": "bounded", "max_restarts": 3, "within_ms": 3600000}},
            "request_queue_capacity": {CAPACITY}"#
    ));
    // Four faults: three restarts within the budget, then the fourth exhausts it.
    let faults = [300, 600, 900, 1_200];
    let channel = |i: usize| {
        if faults.contains(&i) {
            format!("wx-fault-{i}")
        } else {
            format!("wx-{}", i % 20)
        }
    };
    for i in faults {
        arm_fault(FaultPoint::Request, &channel(i));
    }
    /// Every answer one request got.
    type Got = Mutex<Vec<Result<(), RequestError>>>;
    let answers: Arc<Vec<Got>> = Arc::new((0..N).map(|_| Mutex::new(Vec::new())).collect());
    let answered = Arc::new(AtomicUsize::new(0));
    let mut most_outstanding = 0;
    for i in 0..N {
        let (slots, counter) = (answers.clone(), answered.clone());
        ctx.submit(Request::Wrap {
            channel_id: channel(i),
            message_id: format!("f{i}"),
            content: b"x".to_vec(),
            reply: storage::runtime::Reply::new(move |result| {
                slots[i].lock().unwrap().push(result.map(|_| ()));
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        });
        let outstanding = i + 1 - answered.load(Ordering::SeqCst);
        most_outstanding = most_outstanding.max(outstanding);
    }
    ask(&ctx, |reply| Request::Ping { reply }).expect_err("the context has failed");
    // The bounded queue holds the host back: requests waiting for an answer never exceed
    // the queue, the one running and a group held for its commit.
    assert!(
        most_outstanding <= CAPACITY + 64 + 2,
        "{most_outstanding} requests outstanding"
    );
    for (i, slot) in answers.iter().enumerate() {
        let got = slot.lock().unwrap();
        assert_eq!(got.len(), 1, "request {i} answered {} times", got.len());
        match (&got[0], i) {
            (Err(RequestError::Panic(m)), 1_200) => assert!(m.contains("budget exhausted"), "{m}"),
            (Err(RequestError::Panic(m)), _) if faults.contains(&i) => {
                assert!(m.contains("restarted"), "{m}")
            }
            (Err(RequestError::WorkerStopped(_)), _) if i > 1_200 => {}
            (Ok(()), _) if i < 1_200 && !faults.contains(&i) => {}
            (other, _) => panic!("request {i}: {other:?}"),
        }
    }
    ctx.shutdown().expect("free a failed context");
}
