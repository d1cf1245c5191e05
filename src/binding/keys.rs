//! The key-layout facts and rules the facade asks about: reserved job ids,
//! the queue's key suffixes, the short keys of stored options and the
//! priority limit (BullMQ exports these; the engine holds them).

use napi_derive::napi;

use crate::engine::job::SHORT_KEYS;
use crate::engine::job_ops::PRIORITY_LIMIT;
use crate::engine::keys::{is_reserved_job_id, reserved_job_id_message, QUEUE_KEY_SUFFIXES};

/// The suffixes of a queue's own keys (BullMQ's key map, without the base).
#[napi(catch_unwind)]
pub fn queue_key_suffixes() -> Vec<String> {
    QUEUE_KEY_SUFFIXES.iter().map(|s| s.to_string()).collect()
}

/// The option names BullMQ stores under a short key, as `[short, long]` pairs.
#[napi(catch_unwind)]
pub fn stored_option_keys() -> Vec<Vec<String>> {
    SHORT_KEYS.iter().map(|(long, short)| vec![short.to_string(), long.to_string()]).collect()
}

/// The highest priority a job may have.
#[napi(catch_unwind)]
pub fn priority_limit() -> i64 {
    PRIORITY_LIMIT
}

/// Why `id` cannot be a job id (it names one of the queue's own keys), or
/// null when it can. Adds refuse such ids; getters treat them as unknown.
#[napi]
pub fn reserved_job_id_error(id: String) -> Option<String> {
    is_reserved_job_id(&id).then(|| reserved_job_id_message(&id))
}
