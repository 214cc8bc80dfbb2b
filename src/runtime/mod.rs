//! The per-context worker thread: request queue, timers, event dispatch. The only layer
//! that reads the clock and sleeps. Not built yet: see the C ABI issue.

pub mod config;
