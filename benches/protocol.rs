//! Protocol hot paths at the default configuration (18 KB bloom on the wire): wrap,
//! unwrap, a wrap→unwrap pair between two managers in steady state, and the snapshot
//! encode persistence does after every op.

#[path = "../tests/common/managers.rs"]
mod managers;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use managers::{manager, T0};
use storage::persistence;
use storage::protocol::Manager;

const CH: &str = "bench";

/// Two managers that have exchanged `warm` messages, so history and bloom are populated.
fn warmed_pair(warm: usize) -> (Manager, Manager) {
    let (mut a, mut b) = (manager("alice"), manager("bob"));
    for i in 0..warm {
        let (from, to) = if i % 2 == 0 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let bytes = from
            .wrap(T0, CH, &format!("warm-{i}"), b"warm-up")
            .expect("wrap");
        to.unwrap(T0, &bytes).expect("unwrap");
        from.take_events();
        to.take_events();
    }
    (a, b)
}

fn bench_pair(c: &mut Criterion) {
    let content = [42u8; 64];
    c.bench_function("pair/wrap_unwrap_ping_pong", |bench| {
        let (mut a, mut b) = warmed_pair(100);
        let mut i = 0u64;
        bench.iter(|| {
            i += 1;
            let (from, to) = if i.is_multiple_of(2) {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            let bytes = from
                .wrap(T0 + i, CH, &format!("m{i}"), &content)
                .expect("wrap");
            let out = to.unwrap(T0 + i, &bytes).expect("unwrap");
            black_box(out);
            black_box(to.take_events());
        });
    });
}

fn bench_wrap(c: &mut Criterion) {
    let content = [42u8; 64];
    c.bench_function("wrap/default_config", |bench| {
        bench.iter_custom(|iters| {
            let (mut a, _) = warmed_pair(100);
            let mut total = Duration::ZERO;
            for i in 0..iters {
                if i % 5_000 == 4_999 {
                    (a, _) = warmed_pair(100); // keep the outgoing buffer under its limit
                }
                let id = format!("w{i}");
                let start = Instant::now();
                black_box(a.wrap(T0 + i, CH, &id, &content).expect("wrap"));
                total += start.elapsed();
            }
            total
        });
    });
}

fn bench_unwrap(c: &mut Criterion) {
    let (mut sender, _) = warmed_pair(100);
    let messages: Vec<Vec<u8>> = (0..2_000)
        .map(|i| {
            sender
                .wrap(T0 + i, CH, &format!("u{i}"), &[42u8; 64])
                .expect("wrap")
        })
        .collect();
    c.bench_function("unwrap/default_config", |bench| {
        bench.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let (_, mut receiver) = warmed_pair(100);
                for bytes in messages.iter().take((iters - done) as usize) {
                    let start = Instant::now();
                    black_box(receiver.unwrap(T0, bytes).expect("unwrap"));
                    total += start.elapsed();
                    receiver.take_events();
                    done += 1;
                }
            }
            total
        });
    });
}

fn bench_snapshot(c: &mut Criterion) {
    let mut a = manager("alice");
    for i in 0..100 {
        a.wrap(T0, CH, &format!("o{i}"), &[7u8; 100]).expect("wrap");
    }
    c.bench_function("snapshot/meta_with_100_outgoing", |bench| {
        bench.iter(|| {
            let meta = a.channel_meta(CH).expect("channel");
            black_box(persistence::encode_channel_meta(&meta))
        });
    });
}

criterion_group!(
    benches,
    bench_pair,
    bench_wrap,
    bench_unwrap,
    bench_snapshot
);
criterion_main!(benches);
