//! Event sinks of the two API flavours: format each runtime event in the flavour's JSON
//! and hand it to the host's callback, or (native, no callback) to the pull queue.

use std::sync::Arc;

use super::json;
use super::registry::EventRoute;
use super::status::storage_status;
use crate::protocol::event::Event;
use crate::runtime::request::{EventSink, RuntimeEvent};

/// Native contexts: every event, in the native JSON dialect.
pub(crate) struct NativeSink(pub Arc<EventRoute>);

impl EventSink for NativeSink {
    fn deliver(&mut self, event: RuntimeEvent) {
        // Native hosts get one `periodic_sync` per channel instead of the sync tick.
        let Some(text) = json::native_runtime_event(&event) else {
            return;
        };
        self.0.deliver(|target| match target {
            Some(target) => target.call(storage_status::STORAGE_OK, 0, text),
            None => {
                let bytes = text.len();
                self.0.queue.push(text, bytes);
            }
        });
    }
}

/// libsds contexts: only the events libsds emits, in its exact JSON; dropped when no
/// callback is set, as libsds does. Each event's buffer outlives its callback
/// ([`super::retained`]).
pub(crate) struct LibsdsSink(pub Arc<EventRoute>);

impl EventSink for LibsdsSink {
    fn deliver(&mut self, event: RuntimeEvent) {
        let text = match event {
            // libsds emits one channel-less `periodic_sync` per tick.
            RuntimeEvent::SyncTick => {
                self.0.deliver(|target| {
                    if let Some(target) = target {
                        target.call_static(
                            storage_status::STORAGE_OK,
                            0,
                            json::LIBSDS_PERIODIC_SYNC,
                        );
                    }
                });
                return;
            }
            RuntimeEvent::Protocol(Event::PeriodicSync { .. })
            | RuntimeEvent::PersistenceWarning { .. }
            | RuntimeEvent::RecordingDropped { .. }
            | RuntimeEvent::RecordingFailed { .. }
            | RuntimeEvent::RecordingRecovered(_)
            | RuntimeEvent::RecordingStarted { .. }
            | RuntimeEvent::ChunkSealed(_)
            | RuntimeEvent::ReplayMessage { .. }
            | RuntimeEvent::ReplayFinished { .. }
            | RuntimeEvent::WorkerRestarted { .. }
            | RuntimeEvent::UploadProgress(_)
            | RuntimeEvent::ChunkUploaded { .. }
            | RuntimeEvent::ChunkDeadLettered { .. }
            | RuntimeEvent::UploadPaused { .. }
            | RuntimeEvent::UploadResumed => return,
            RuntimeEvent::Protocol(event) => match json::libsds_event(&event) {
                Some(text) => text,
                None => return,
            },
        };
        self.0.deliver(|target| {
            if let Some(target) = target {
                target.call(storage_status::STORAGE_OK, 0, text.into_bytes());
            }
        });
    }
}
