//! libstorage: reliable, causally ordered sync over lossy transports (SDS and its SDS-R
//! repair extension, wire-compatible with nim-sds) and durable storage of that state.
//!
//! Layers, each a module, depend one way, down this list (see `DESIGN.md`):
//! [`protocol`] (pure SDS/SDS-R), [`persistence`] (snapshot persistence contract, codec,
//! backends), [`recording`], [`runtime`], [`ffi`].

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(unreachable_pub)]

#[cfg_attr(not(feature = "fault-injection"), allow(dead_code, unreachable_pub))]
mod fault;
pub mod ffi;
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub use fault::{arm_fault, FaultPoint};
pub mod persistence;
pub mod protocol;
pub mod recording;
pub mod runtime;
mod shorten;
mod strict_json;

/// The README's Rust blocks, compiled and run as doctests (`cargo test --doc`); its
/// C, Go and Python blocks are run by `make readme-test` (tests/readme/check.py).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
