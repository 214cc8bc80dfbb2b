//! Driving a runtime context from tests and benches: event sinks, and requests whose
//! outcome the caller waits for.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use storage::runtime::{
    Context, ContextConfig, ContextError, EventSink, ManualClock, Reply, Request, RequestError,
    RuntimeEvent,
};

/// How long a test waits for a reply or an event before failing.
#[allow(dead_code)] // not every test binary including this module uses every item
pub const WAIT: Duration = Duration::from_secs(10);

/// Forwards every event to a channel the test reads.
#[allow(dead_code)]
pub struct ChannelSink(pub Sender<RuntimeEvent>);

impl EventSink for ChannelSink {
    fn deliver(&mut self, event: RuntimeEvent) {
        let _ = self.0.send(event);
    }
}

/// A context configured by the document `config`, on `clock`, and the events it sends.
#[allow(dead_code)]
pub fn start_configured(
    config: &str,
    clock: &ManualClock,
) -> Result<(Context, Receiver<RuntimeEvent>), ContextError> {
    let config = ContextConfig::from_json(config).expect("config");
    let (tx, rx) = channel();
    let context = Context::start(config, Arc::new(clock.clone()), Box::new(ChannelSink(tx)))?;
    Ok((context, rx))
}

/// A host that lets every event go.
#[allow(dead_code)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn deliver(&mut self, event: RuntimeEvent) {
        std::hint::black_box(event);
    }
}

/// A reply that sends its outcome to the returned receiver.
#[allow(dead_code)]
pub fn reply<T: Send + 'static>() -> (Reply<T>, Receiver<Result<T, RequestError>>) {
    let (tx, rx) = channel();
    (
        Reply::new(move |result| {
            let _ = tx.send(result);
        }),
        rx,
    )
}

/// Submits the request `make` builds around its reply, and waits for the outcome.
#[allow(dead_code)]
pub fn ask<T: Send + 'static>(
    ctx: &Context,
    make: impl FnOnce(Reply<T>) -> Request,
) -> Result<T, RequestError> {
    let (reply, rx) = reply();
    ctx.submit(make(reply));
    rx.recv_timeout(WAIT).expect("answered")
}
