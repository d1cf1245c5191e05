//! Moves of an active job out of `active` other than completion: failing an
//! attempt (retry or final failure), the manual delay, back to wait after a
//! rate limit, and lock extension. The methods here
//! are on `BindingQueue` (a job reached through a Queue); a Worker fails jobs
//! through `BindingWorker::move_to_failed` so fetch-next uses its settings.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::IntoNapi;
use super::queue::BindingQueue;
use super::types::{failed_to_js, BindingFailed, BindingFailedAttempt};
use crate::engine::active::FetchSettings;
use crate::engine::queue::now_ms;
use crate::engine::retry::{Delay, FailedAttempt, RetryDecision};

/// What failing an attempt will do, as the engine decides it.
#[napi(object)]
pub struct BindingFailurePlan {
    /// The custom backoff strategy (`settings.backoffStrategy`) to run for
    /// this attempt's delay (its backoff type), before it can be decided.
    pub custom_backoff: Option<String>,
    /// `fail`, `delay` (retry after a backoff) or `retry` (retry now); absent
    /// while `customBackoff` is pending.
    pub operation: Option<String>,
}

/// Plans a failed attempt without moving it: which custom backoff strategy
/// must run first, else where the attempt goes (for span names). An attempt
/// the engine would refuse plans as `fail`.
#[napi(catch_unwind)]
pub fn plan_failed_attempt(attempt: BindingFailedAttempt) -> BindingFailurePlan {
    let Ok(attempt) = FailedAttempt::try_from(attempt) else {
        return BindingFailurePlan { custom_backoff: None, operation: Some("fail".to_string()) };
    };
    if let Some(name) = attempt.custom_backoff() {
        return BindingFailurePlan { custom_backoff: Some(name.to_string()), operation: None };
    }
    let operation = match attempt.decide(rand::random::<f64>()) {
        Ok(RetryDecision::RetryAfter(_)) => "delay",
        Ok(RetryDecision::RetryNow) => "retry",
        Ok(RetryDecision::Fail) | Err(_) => "fail",
    };
    BindingFailurePlan { custom_backoff: None, operation: Some(operation.to_string()) }
}

#[napi]
impl BindingQueue {
    /// Fails an attempt of a job held by `token`: retry or final failure.
    /// Fetch-next uses BullMQ's default worker settings.
    #[napi]
    pub async fn move_to_failed(&self, attempt: BindingFailedAttempt) -> Result<BindingFailed> {
        let attempt = FailedAttempt::try_from(attempt)?;
        let result = self.queue.move_to_failed(&attempt, &FetchSettings::default()).await.napi()?;
        Ok(failed_to_js(result, attempt.timestamp))
    }

    /// Moves an active job to delayed until `timestamp` without counting an
    /// attempt; returns the delay applied (ms, 0 when the time is past).
    #[napi]
    pub async fn move_to_delayed(&self, job_id: String, token: String, timestamp: i64) -> Result<i64> {
        let delay = Delay::manual(&job_id, &token, timestamp, now_ms());
        self.queue.move_to_delayed(&delay, &FetchSettings::default()).await.napi()?;
        Ok(delay.delay)
    }

    /// Moves an active job back to wait; returns the rate limit's remaining ms.
    #[napi]
    pub async fn move_job_from_active_to_wait(&self, job_id: String, token: String) -> Result<i64> {
        self.queue.move_job_from_active_to_wait(&job_id, &token).await.napi()
    }

    /// 1 when the lock held by `token` was extended, 0 otherwise.
    #[napi]
    pub async fn extend_lock(&self, job_id: String, token: String, duration: i64) -> Result<i64> {
        Ok(i64::from(self.queue.extend_lock(&job_id, &token, duration).await.napi()?))
    }
}
