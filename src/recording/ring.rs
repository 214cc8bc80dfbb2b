//! Ring-buffer mode: the last `window` of messages in memory, bounded by a byte cap.

use std::collections::VecDeque;

use super::frame::Frame;

/// Default byte cap of a ring buffer (256 MiB).
pub(crate) const DEFAULT_RING_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The most recent frames: older than `window_ns` behind the newest, or past `max_bytes`,
/// and the oldest go first, but the newest frame is always kept (never an empty window
/// after a message arrived).
#[derive(Debug)]
pub(crate) struct RingBuffer {
    frames: VecDeque<Frame>,
    bytes: u64,
    window_ns: u64,
    max_bytes: u64,
}

impl RingBuffer {
    /// An empty ring keeping `window_ns` of log time and at most `max_bytes`.
    pub(crate) fn new(window_ns: u64, max_bytes: u64) -> Self {
        Self {
            frames: VecDeque::new(),
            bytes: 0,
            window_ns,
            max_bytes,
        }
    }

    /// Adds the newest frame, then evicts what fell out of the window or the cap.
    pub(crate) fn push(&mut self, frame: Frame) {
        self.bytes += frame.weight() as u64;
        let newest = frame.log_time_ns;
        self.frames.push_back(frame);
        while self.frames.len() > 1 {
            let Some(oldest) = self.frames.front() else {
                break;
            };
            let too_old = newest.saturating_sub(oldest.log_time_ns) > self.window_ns;
            if !too_old && self.bytes <= self.max_bytes {
                break;
            }
            self.bytes -= oldest.weight() as u64;
            self.frames.pop_front();
        }
    }

    /// The frames in the window, oldest first.
    pub(crate) fn frames(&self) -> impl Iterator<Item = &Frame> {
        self.frames.iter()
    }

    /// Frames held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.frames.len()
    }

    /// Bytes held (as [`Frame::weight`] counts them).
    #[cfg(test)]
    fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t_ms: u64, size: usize) -> Frame {
        Frame {
            channel_id: "c".into(),
            data: vec![0; size],
            log_time_ns: t_ms * 1_000_000,
            publish_time_ns: t_ms * 1_000_000,
        }
    }

    fn times(ring: &RingBuffer) -> Vec<u64> {
        ring.frames().map(|f| f.log_time_ns / 1_000_000).collect()
    }

    #[test]
    fn keeps_only_the_time_window() {
        let mut ring = RingBuffer::new(1_000 * 1_000_000, u64::MAX);
        for t in [0, 400, 900, 1_000, 1_500, 2_100] {
            ring.push(frame(t, 10));
        }
        assert_eq!(times(&ring), [1_500, 2_100]);
    }

    #[test]
    fn the_byte_cap_evicts_oldest_first_but_never_the_only_sample() {
        let one = frame(0, 100).weight() as u64;
        let mut ring = RingBuffer::new(u64::MAX, 2 * one);
        for t in 0..5 {
            ring.push(frame(t, 100));
        }
        assert_eq!(times(&ring), [3, 4]);
        assert_eq!(ring.bytes(), 2 * one);
        // A single frame larger than the cap is still kept, alone.
        ring.push(frame(9, 10_000));
        assert_eq!(times(&ring), [9]);
        // A window of 0 keeps just the newest.
        let mut ring = RingBuffer::new(0, u64::MAX);
        ring.push(frame(1, 1));
        ring.push(frame(2, 1));
        assert_eq!(times(&ring), [2]);
        assert_eq!(ring.len(), 1);
    }
}
