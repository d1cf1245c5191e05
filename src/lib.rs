#![deny(clippy::all)]
//! bullmq-native: a BullMQ-compatible queue engine.
//!
//! `engine` is pure Rust (no napi) and owns every Redis interaction;
//! `binding` is the only place where JavaScript values meet Rust types.

pub mod engine;
#[cfg(not(test))]
mod binding;
