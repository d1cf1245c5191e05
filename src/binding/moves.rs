//! Moves of an active job out of `active` other than completion: failing an
//! attempt (retry or final failure), the manual delay, back to wait after a
//! rate limit, and lock extension. The methods here
//! are on `BindingQueue` (a job reached through a Queue); a Worker fails jobs
//! through `BindingWorker::move_to_failed` so fetch-next uses its settings.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;

use super::convert::BindingFetched;
use super::error::{invalid, IntoNapi};
use super::queue::BindingQueue;
use super::worker::BindingKeepJobs;
use crate::engine::active::FetchSettings;
use crate::engine::queue::now_ms;
use crate::engine::retry::{Delay, FailResult, FailedAttempt, FailedTo, FailurePolicy};

/// A failed attempt as the facade reports it.
#[napi(object)]
pub struct BindingFailedAttempt {
    pub job_id: String,
    pub token: String,
    /// The error's message.
    pub reason: String,
    /// The error's stack.
    pub stack: Option<String>,
    /// The job's stack traces so far.
    pub stacktrace: Vec<String>,
    /// Attempts made before this one.
    pub attempts_made: i64,
    /// The error is an UnrecoverableError.
    pub unrecoverable: bool,
    /// The delay the worker's custom backoff strategy gave, if it ran.
    pub custom_delay: Option<i64>,
    /// JSON text of the job's options.
    pub opts: String,
    /// The host's `removeOnFail`, used when the job has none.
    pub default_keep: BindingKeepJobs,
    pub fetch_next: bool,
}

impl TryFrom<BindingFailedAttempt> for FailedAttempt {
    type Error = napi::Error;

    fn try_from(a: BindingFailedAttempt) -> Result<Self> {
        let opts = match serde_json::from_str::<Value>(&a.opts) {
            Ok(Value::Object(map)) => map,
            _ => return Err(invalid("job options must be a JSON object")),
        };
        Ok(FailedAttempt {
            policy: FailurePolicy::from_opts(&opts, a.default_keep.into()).napi()?,
            job_id: a.job_id,
            token: a.token,
            reason: a.reason,
            stack: a.stack,
            stacktrace: a.stacktrace,
            attempts_made: a.attempts_made,
            unrecoverable: a.unrecoverable,
            custom_delay: a.custom_delay,
            fetch_next: a.fetch_next,
            timestamp: now_ms(),
        })
    }
}

/// Where a failed attempt left the job, and the next job if fetched.
#[napi(object)]
pub struct BindingFailed {
    /// `failed`, `delayed` (retry after `delay` ms) or `waiting` (retry now).
    pub state: String,
    pub delay: i64,
    /// The stack traces now stored.
    pub stacktrace: Vec<String>,
    /// Set when the job failed for good.
    pub finished_on: Option<i64>,
    pub next: BindingFetched,
}

pub(super) fn failed_to_js(result: FailResult, timestamp: i64) -> BindingFailed {
    let (state, delay, finished_on) = match result.moved {
        FailedTo::Failed => ("failed", 0, Some(timestamp)),
        FailedTo::Delayed(ms) => ("delayed", ms, None),
        FailedTo::Waiting => ("waiting", 0, None),
    };
    BindingFailed {
        state: state.to_string(),
        delay,
        stacktrace: result.stacktrace,
        finished_on,
        next: result.fetched.into(),
    }
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
