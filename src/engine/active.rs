//! Operations on jobs a worker holds: fetching with a lock, and finishing
//! (complete / fail) with optional fetch-next. One core for the manual API
//! and the automatic worker.

use super::error::{EngineError, Result};
use super::queue::Queue;
use super::reply::{parse_fetch, Fetched};
use super::scripts;

/// The worker options a fetch needs.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub lock_duration: i64,
    pub limiter_max: i64,
    pub limiter_duration: i64,
    pub worker_name: String,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self { lock_duration: 30_000, limiter_max: 0, limiter_duration: 0, worker_name: String::new() }
    }
}

/// How many finished jobs to keep (BullMQ's KeepJobs, resolved by the caller).
#[derive(Debug, Clone, Copy)]
pub struct KeepJobs {
    /// -1 keeps all, 0 removes the job, n keeps the newest n.
    pub count: i64,
    /// Seconds; 0 means no age limit.
    pub age: i64,
    pub limit: i64,
}

impl Default for KeepJobs {
    fn default() -> Self {
        Self { count: -1, age: 0, limit: 1000 }
    }
}

/// How a job ends.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// JSON text of the return value.
    Completed(String),
    /// Final failure: reason and the stacktrace JSON array to store.
    Failed { reason: String, stacktrace: String },
}

#[derive(Debug, Clone)]
pub struct Finish {
    pub job_id: String,
    pub token: String,
    pub outcome: Outcome,
    pub keep: KeepJobs,
    /// The job's `opts.attempts`, for `retries-exhausted`.
    pub attempts: i64,
    pub fetch_next: bool,
    pub timestamp: i64,
}

impl Queue {
    /// Moves the next job to active, locked by `token`.
    pub async fn move_to_active(
        &self,
        token: &str,
        settings: &FetchSettings,
        timestamp: i64,
    ) -> Result<Fetched> {
        let mut inv = self.script(&scripts::MOVE_TO_ACTIVE);
        inv.arg(timestamp)
            .arg(token)
            .arg(settings.lock_duration)
            .arg(settings.limiter_max)
            .arg(settings.limiter_duration)
            .arg(&settings.worker_name);
        let reply: redis::Value = inv.invoke_async(&mut self.cmd()).await?;
        parse_fetch(&reply)
    }

    /// Completes or finally fails a job; with `fetch_next` returns the next job,
    /// already active and locked by the same token.
    pub async fn move_to_finished(&self, finish: &Finish, settings: &FetchSettings) -> Result<Fetched> {
        let (target, value, stacktrace) = match &finish.outcome {
            Outcome::Completed(v) => ("completed", v.as_str(), ""),
            Outcome::Failed { reason, stacktrace } => ("failed", reason.as_str(), stacktrace.as_str()),
        };
        let mut inv = self.script(&scripts::MOVE_TO_FINISHED);
        inv.arg(&finish.job_id)
            .arg(finish.timestamp)
            .arg(target)
            .arg(value)
            .arg(if finish.fetch_next { "1" } else { "0" })
            .arg(&finish.token)
            .arg(finish.keep.count)
            .arg(finish.keep.age)
            .arg(finish.keep.limit)
            .arg(finish.attempts)
            .arg(settings.lock_duration)
            .arg(settings.limiter_max)
            .arg(settings.limiter_duration)
            .arg(&settings.worker_name)
            .arg(stacktrace);
        let reply: redis::Value = inv.invoke_async(&mut self.cmd()).await?;
        if let redis::Value::Int(code) = reply {
            if code < 0 {
                return Err(EngineError::from_code(code, &finish.job_id, "moveToFinished", "active"));
            }
            return Ok(Fetched::Nothing);
        }
        parse_fetch(&reply)
    }
}
