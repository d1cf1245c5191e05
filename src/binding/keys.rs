//! The key-layout rules the facade asks about before it writes anything.

use napi_derive::napi;

use crate::engine::keys::{is_reserved_job_id, reserved_job_id_message};

/// Why `id` cannot be a job id (it names one of the queue's own keys), or
/// null when it can. Adds refuse such ids; getters treat them as unknown.
#[napi]
pub fn reserved_job_id_error(id: String) -> Option<String> {
    is_reserved_job_id(&id).then(|| reserved_job_id_message(&id))
}
