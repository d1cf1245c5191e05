//! The native half of `Job`'s methods that act on a job by id (progress,
//! logs, state, promote, delay, priority, remove, retry) and of `Queue.remove`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::{invalid, IntoNapi};
use super::queue::BindingQueue;
use crate::engine::job_ops::{FinishedState, Reprocess};
use crate::engine::queue::now_ms;

/// Options of `job.retry(state, opts)`.
#[napi(object)]
pub struct BindingReprocess {
    /// `completed` or `failed`.
    pub state: String,
    /// The job's `opts.lifo`.
    pub lifo: bool,
    pub reset_attempts_made: bool,
    pub reset_attempts_started: bool,
}

/// A JS number that must be a whole number of milliseconds / a count.
fn whole(value: f64, what: &str) -> Result<i64> {
    if !value.is_finite() || value.fract() != 0.0 {
        return Err(invalid(format!("{what} must be an integer, got {value}")));
    }
    Ok(value as i64)
}

#[napi]
impl BindingQueue {
    /// Stores the progress (JSON text) and emits `progress`.
    #[napi]
    pub async fn update_job_progress(&self, id: String, progress: String) -> Result<()> {
        self.queue.update_progress(&id, &progress).await.napi()
    }

    /// Replaces the job's data (JSON text).
    #[napi]
    pub async fn update_job_data(&self, id: String, data: String) -> Result<()> {
        self.queue.update_data(&id, &data).await.napi()
    }

    /// Appends a log line; returns the number of lines kept.
    #[napi]
    pub async fn add_job_log(&self, id: String, line: String, keep_logs: Option<f64>) -> Result<i64> {
        let keep = keep_logs.map(|k| whole(k, "keepLogs")).transpose()?;
        self.queue.add_log(&id, &line, keep).await.napi()
    }

    /// Trims the log to the newest `keepLogs` lines, or deletes it.
    #[napi]
    pub async fn clear_job_logs(&self, id: String, keep_logs: Option<f64>) -> Result<()> {
        let keep = keep_logs.map(|k| whole(k, "keepLogs")).transpose()?;
        self.queue.clear_logs(&id, keep).await.napi()
    }

    /// Moves a delayed job to wait now.
    #[napi]
    pub async fn promote_job(&self, id: String) -> Result<()> {
        self.queue.promote(&id).await.napi()
    }

    /// Re-schedules a delayed job `delay` ms from now.
    #[napi]
    pub async fn change_job_delay(&self, id: String, delay: f64) -> Result<()> {
        let delay = whole(delay, "delay")?;
        self.queue.change_delay(&id, delay, now_ms()).await.napi()
    }

    /// Sets the job's priority; `lifo` puts it first among its peers.
    #[napi]
    pub async fn change_job_priority(&self, id: String, priority: f64, lifo: bool) -> Result<()> {
        let priority = whole(priority, "priority")?;
        self.queue.change_priority(&id, priority, lifo).await.napi()
    }

    /// Removes a job; `false` when it (or a pending child) is locked.
    #[napi]
    pub async fn remove_job(&self, id: String, remove_children: bool) -> Result<bool> {
        self.queue.remove_job(&id, remove_children, now_ms()).await.napi()
    }

    /// Sends a completed / failed job back to wait.
    #[napi]
    pub async fn reprocess_job(&self, id: String, opts: BindingReprocess) -> Result<()> {
        let reprocess = Reprocess {
            state: FinishedState::parse(&opts.state).napi()?,
            lifo: opts.lifo,
            reset_attempts_made: opts.reset_attempts_made,
            reset_attempts_started: opts.reset_attempts_started,
        };
        self.queue.reprocess_job(&id, &reprocess).await.napi()
    }

    /// The job's state: `completed`, `failed`, `delayed`, `prioritized`,
    /// `active`, `waiting`, `waiting-children` or `unknown`.
    #[napi]
    pub async fn job_state(&self, id: String) -> Result<String> {
        self.queue.job_state(&id).await.napi()
    }
}
