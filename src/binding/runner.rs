//! The automatic worker's native surface (`BindingWorker.run` and the calls
//! that report job outcomes). Jobs and events reach JavaScript through one
//! threadsafe function, which keeps Node alive while the worker runs and is
//! released when it closes.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use super::error::{to_napi, IntoNapi};
use super::moves::{failed_to_js, BindingFailed, BindingFailedAttempt};
use super::queue::BindingQueue;
use super::worker::{BindingFinish, BindingWorker};
use crate::engine::active::Finish;
use crate::engine::retry::FailedAttempt;
use crate::engine::runner::{Delivered, Runner, RunnerEvent, RunnerOptions};
use crate::engine::EngineError;

#[napi(object)]
pub struct BindingRunOptions {
    pub concurrency: u32,
    /// Milliseconds; 0 disables lock renewal (`skipLockRenewal`).
    pub lock_renew_time: i64,
    pub skip_stalled_check: bool,
    /// Tokens are `{tokenPrefix}:{n}` (the worker's id).
    pub token_prefix: String,
    /// Pause after a failed fetch, in ms (default 15000).
    pub run_retry_delay: Option<i64>,
}

/// A job to process: active and locked by `token`.
#[napi(object)]
pub struct BindingDeliveredJob {
    pub id: String,
    pub token: String,
    /// The job hash as a flat `[field, value, ...]` list.
    pub fields: Vec<String>,
}

impl From<Delivered> for BindingDeliveredJob {
    fn from(d: Delivered) -> Self {
        let mut fields = Vec::with_capacity(d.job.fields.len() * 2);
        for (k, v) in d.job.fields {
            fields.push(k);
            fields.push(v);
        }
        BindingDeliveredJob { id: d.job.id, token: d.token, fields }
    }
}

/// One report of the run loop.
#[napi(object)]
pub struct BindingRunnerEvent {
    /// `jobs`, `drained`, `stalled`, `locksRenewed`, `lockRenewalFailed`,
    /// `lockLost`, `cancel` or `error`.
    pub kind: String,
    pub jobs: Option<Vec<BindingDeliveredJob>>,
    pub job_ids: Option<Vec<String>>,
    /// `error`: the error in the native error format; `cancel`: the reason.
    pub message: Option<String>,
}

fn event(kind: &str) -> BindingRunnerEvent {
    BindingRunnerEvent { kind: kind.to_string(), jobs: None, job_ids: None, message: None }
}

fn error_text(err: EngineError) -> String {
    to_napi(err).reason
}

impl From<RunnerEvent> for BindingRunnerEvent {
    fn from(e: RunnerEvent) -> Self {
        match e {
            RunnerEvent::Jobs(jobs) => {
                BindingRunnerEvent { jobs: Some(jobs.into_iter().map(Into::into).collect()), ..event("jobs") }
            }
            RunnerEvent::Drained => event("drained"),
            RunnerEvent::Stalled(ids) => BindingRunnerEvent { job_ids: Some(ids), ..event("stalled") },
            RunnerEvent::LocksRenewed(ids) => BindingRunnerEvent { job_ids: Some(ids), ..event("locksRenewed") },
            RunnerEvent::LockRenewalFailed(ids) => {
                BindingRunnerEvent { job_ids: Some(ids), ..event("lockRenewalFailed") }
            }
            RunnerEvent::LockLost(ids) => BindingRunnerEvent { job_ids: Some(ids), ..event("lockLost") },
            RunnerEvent::Cancel { job_id, reason } => {
                BindingRunnerEvent { job_ids: Some(vec![job_id]), message: reason, ..event("cancel") }
            }
            RunnerEvent::Error(err) => BindingRunnerEvent { message: Some(error_text(err)), ..event("error") },
        }
    }
}

/// The outcome of one completion.
#[napi(object)]
pub struct BindingCompleted {
    /// The error in the native error format, when the completion failed.
    pub error: Option<String>,
    /// The next job, when fetch-next found one.
    pub next: Option<BindingDeliveredJob>,
    /// Fetch-next found no job and the queue just became drained.
    pub drained: bool,
}

/// The outcome of a failed attempt reported by the run loop.
#[napi(object)]
pub struct BindingRunnerFailed {
    pub failed: BindingFailed,
    /// Fetch-next found no job and the queue just became drained.
    pub drained: bool,
}

/// A strong callback: keeps Node alive until released on close.
pub(super) type RunnerCallback =
    ThreadsafeFunction<BindingRunnerEvent, (), BindingRunnerEvent, Status, false>;

impl BindingWorker {
    fn runner(&self) -> Result<Arc<Runner>> {
        self.runner
            .lock()
            .ok()
            .and_then(|r| r.clone())
            .ok_or_else(|| Error::from_reason("the worker is not running"))
    }

    /// Stops the runner for good and releases the callback.
    pub(super) async fn shutdown_runner(&self) {
        let runner = self.runner.lock().ok().and_then(|mut r| r.take());
        if let Some(runner) = runner {
            runner.shutdown().await;
        }
        if let Ok(mut callback) = self.events.lock() {
            callback.take();
        }
    }
}

#[napi]
impl BindingWorker {
    /// Starts the run loop; `callback` receives jobs and events until close.
    #[napi(ts_args_type = "options: BindingRunOptions, callback: (event: BindingRunnerEvent) => void")]
    pub async fn run(&self, options: BindingRunOptions, callback: RunnerCallback) -> Result<()> {
        if self.runner.lock().map(|r| r.is_some()).unwrap_or(true) {
            return Err(Error::from_reason("Worker is already running."));
        }
        if self.core.is_closing() {
            return Ok(());
        }
        if let Ok(mut events) = self.events.lock() {
            *events = Some(callback);
        }
        let events = self.events.clone();
        let sink = Box::new(move |e: RunnerEvent| {
            if let Ok(guard) = events.lock() {
                if let Some(callback) = guard.as_ref() {
                    callback.call(e.into(), ThreadsafeFunctionCallMode::NonBlocking);
                }
            }
        });
        let opts = RunnerOptions {
            concurrency: options.concurrency.max(1) as usize,
            lock_renew_time: options.lock_renew_time.max(0),
            skip_stalled_check: options.skip_stalled_check,
            token_prefix: options.token_prefix,
            run_retry_delay: options.run_retry_delay.unwrap_or(15_000),
        };
        // Installed before it starts: jobs it hands out are reported through it.
        let runner = Runner::new(self.core.clone(), opts, sink);
        if let Ok(mut slot) = self.runner.lock() {
            *slot = Some(runner.clone());
        }
        runner.start().await;
        let closed_meanwhile = self.runner.lock().map(|r| r.is_none()).unwrap_or(true);
        if closed_meanwhile {
            runner.shutdown().await;
        }
        Ok(())
    }

    /// Changes the number of jobs processed at once.
    #[napi]
    pub fn set_concurrency(&self, concurrency: u32) -> Result<()> {
        self.runner()?.set_concurrency(concurrency.max(1) as usize);
        Ok(())
    }

    /// Stops fetching new jobs (jobs in flight go on).
    #[napi]
    pub fn pause_runner(&self) -> Result<()> {
        self.runner()?.pause();
        Ok(())
    }

    /// Fetches again after `pause_runner` (async: it restarts the stalled
    /// checker on the runtime).
    #[napi]
    pub async fn resume_runner(&self) -> Result<()> {
        self.runner()?.resume();
        Ok(())
    }

    /// Stops fetching for good; jobs in flight can still be finished.
    #[napi]
    pub async fn stop_runner(&self) {
        let runner = self.runner.lock().ok().and_then(|r| r.clone());
        match runner {
            Some(runner) => runner.stop().await,
            None => self.core.close().await,
        }
    }

    /// Resolves when no job is in flight and no fetch is under way.
    #[napi]
    pub async fn when_idle(&self) -> Result<()> {
        self.runner()?.when_idle().await;
        Ok(())
    }

    /// Completes jobs the run loop handed out; results in input order, each
    /// with the next job when its fetch-next found one.
    #[napi]
    pub async fn complete_jobs(&self, finishes: Vec<BindingFinish>) -> Result<Vec<BindingCompleted>> {
        let runner = self.runner()?;
        let finishes: Vec<Finish> = finishes.into_iter().map(Into::into).collect();
        let results = runner.complete_many(finishes).await;
        Ok(results
            .into_iter()
            .map(|r| match r {
                Ok(done) => BindingCompleted { error: None, next: done.next.map(Into::into), drained: done.drained },
                Err(err) => BindingCompleted { error: Some(error_text(err)), next: None, drained: false },
            })
            .collect())
    }

    /// Fails an attempt of a job the run loop handed out; the next job (same
    /// token) is in `next` when fetch-next found one.
    #[napi]
    pub async fn fail_job(&self, attempt: BindingFailedAttempt) -> Result<BindingRunnerFailed> {
        let runner = self.runner()?;
        let attempt = FailedAttempt::try_from(attempt)?;
        let timestamp = attempt.timestamp;
        let (result, drained) = runner.fail(attempt).await.napi()?;
        Ok(BindingRunnerFailed { failed: failed_to_js(result, timestamp), drained })
    }

    /// Forgets a job the processor moved itself (DelayedError and the like).
    #[napi]
    pub fn release_job(&self, job_id: String, token: String) -> Result<()> {
        self.runner()?.release(&job_id, &token);
        Ok(())
    }

    /// Sends a job back to wait after `RateLimitError`; returns the queue's
    /// remaining rate limit in ms.
    #[napi]
    pub async fn rate_limit_job(&self, job_id: String, token: String) -> Result<i64> {
        self.runner()?.rate_limited(&job_id, &token).await.napi()
    }
}

#[napi]
impl BindingQueue {
    /// Asks our running workers to cancel a job they hold (pub/sub); true
    /// when one of them held it.
    #[napi]
    pub async fn cancel_job(&self, job_id: String, reason: Option<String>) -> Result<bool> {
        self.queue.cancel_job(&job_id, reason.as_deref()).await.napi()
    }
}
