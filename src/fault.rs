//! Test-only panic injection at chosen points of the worker (`fault-injection` feature,
//! enabled by the crate's own tests only; a release build has neither the feature nor any
//! way to reach this from the C API). Without the feature, [`hit`] does nothing and is
//! compiled away.

/// Where an injected panic happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPoint {
    /// In the worker, while running a request on the channel (after the operation
    /// itself, before its events and reply).
    Request,
    /// In a save of the channel's state, right before the backend is called.
    Save,
    /// In the worker's timers, before the sweeps, once per channel in memory.
    Timer,
    /// In the worker's recording code, while handing a message of the channel to the
    /// recorders.
    Recorder,
}

#[cfg(feature = "fault-injection")]
static ARMED: std::sync::Mutex<Vec<(FaultPoint, String)>> = std::sync::Mutex::new(Vec::new());

/// Makes the next [`hit`] of `point` on `channel_id` (in any context of the process)
/// panic, once. Tests use channel names of their own, so they do not disturb each other.
#[cfg(feature = "fault-injection")]
pub fn arm_fault(point: FaultPoint, channel_id: &str) {
    ARMED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((point, channel_id.to_owned()));
}

/// Panics if a fault is armed at `point` for `channel_id` (and disarms it).
#[inline(always)]
pub(crate) fn hit(point: FaultPoint, channel_id: &str) {
    #[cfg(feature = "fault-injection")]
    {
        let fire = {
            let mut armed = ARMED.lock().unwrap_or_else(|p| p.into_inner());
            match armed
                .iter()
                .position(|(p, c)| *p == point && c == channel_id)
            {
                Some(i) => {
                    armed.remove(i);
                    true
                }
                None => false,
            }
        };
        if fire {
            panic!("injected fault: {point:?} on channel `{channel_id}`");
        }
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = (point, channel_id);
}
