//! The engine: pure Rust, no napi. Everything that talks to Redis.

pub mod active;
pub mod adder;
pub mod backoff;
pub mod cancel;
pub mod closing;
pub mod cluster;
pub mod connection;
pub mod control;
pub mod cron;
pub mod dedup;
pub mod error;
pub mod events;
pub mod flow;
pub mod guard;
pub mod getters;
pub mod job;
pub mod job_json;
pub mod job_ops;
pub mod keys;
pub mod limiter;
pub mod lock;
pub mod meta;
pub mod metrics;
pub mod orphans;
pub mod queue;
pub mod reply;
pub mod runner;
pub mod retry;
pub mod scheduler;
pub mod scripts;
pub mod sentinel;
pub mod stalled;
pub mod worker;

#[cfg(test)]
pub mod test_support;

pub use error::{EngineError, ErrorKind, Result};
