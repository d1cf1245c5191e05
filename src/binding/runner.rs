//! The automatic worker's native surface (`BindingWorker.run` and the calls
//! that report job outcomes). Jobs and events reach JavaScript through one
//! threadsafe function, which keeps Node alive while the worker runs and is
//! released when it closes.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::error::{invalid, to_napi, IntoNapi};
use super::queue::BindingQueue;
use super::types::{failed_to_js, BindingFailed, BindingFailedAttempt, BindingRunnerEvent, RunnerCallback};
use super::worker::BindingWorker;
use crate::engine::active::Finish;
use crate::engine::guard;
use crate::engine::job_json::push_json_str;
use crate::engine::reply::into_text;
use crate::engine::retry::FailedAttempt;
use crate::engine::runner::{
    default_lock_renew_time, Delivered, Finished, Pong, Runner, RunnerEvent, RunnerOptions, DEFAULT_MAX_EVENT_LOOP_BLOCK,
    DEFAULT_RUN_RETRY_DELAY,
};
use crate::engine::EngineError;

#[napi(object)]
pub struct BindingRunOptions {
    pub concurrency: u32,
    /// Milliseconds (absent: the engine's default for the worker's lock
    /// duration); 0 disables lock renewal (`skipLockRenewal`).
    pub lock_renew_time: Option<i64>,
    pub skip_stalled_check: bool,
    /// Tokens are `{tokenPrefix}:{n}` (the worker's id).
    pub token_prefix: String,
    /// Pause after a failed fetch, in ms (absent: the engine's default).
    pub run_retry_delay: Option<i64>,
    /// Milliseconds the event loop may go without answering before the
    /// worker stops renewing its locks (default 60000).
    pub max_event_loop_block: Option<i64>,
}

/// Writes a job to process as `id,token,[field,value,...]` (three elements
/// of the flat arrays JavaScript parses with one JSON.parse; the fields are
/// the JSON text the scripts returned).
fn push_delivered(out: &mut Vec<u8>, d: &Delivered) {
    push_json_str(out, &d.job.id);
    out.push(b',');
    push_json_str(out, &d.token);
    out.push(b',');
    out.extend_from_slice(d.job.fields.as_bytes());
}

/// Room for a delivered job's text.
fn delivered_len(d: &Delivered) -> usize {
    d.job.id.len() + d.token.len() + d.job.fields.len() + 16
}

/// Jobs to process as JSON: `[id, token, [field, value, ...], id, ...]`.
fn jobs_json(jobs: &[Delivered]) -> String {
    let mut out = Vec::with_capacity(2 + jobs.iter().map(delivered_len).sum::<usize>());
    out.push(b'[');
    for (i, d) in jobs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_delivered(&mut out, d);
    }
    out.push(b']');
    into_text(out)
}

fn event(kind: &str) -> BindingRunnerEvent {
    BindingRunnerEvent { kind: kind.to_string(), jobs: None, job_ids: None, tokens: None, message: None, batch: None }
}

fn error_text(err: EngineError) -> String {
    to_napi(err).reason
}

impl From<RunnerEvent> for BindingRunnerEvent {
    fn from(e: RunnerEvent) -> Self {
        match e {
            RunnerEvent::Jobs(jobs) => {
                BindingRunnerEvent { jobs: Some(jobs_json(&jobs)), ..event("jobs") }
            }
            RunnerEvent::Drained => event("drained"),
            RunnerEvent::Stalled(ids) => BindingRunnerEvent { job_ids: Some(ids), ..event("stalled") },
            RunnerEvent::LocksRenewed(ids) => BindingRunnerEvent { job_ids: Some(ids), ..event("locksRenewed") },
            RunnerEvent::LockRenewalFailed(ids) => {
                BindingRunnerEvent { job_ids: Some(ids), ..event("lockRenewalFailed") }
            }
            RunnerEvent::LockLost(lost) => {
                let (ids, tokens) = lost.into_iter().unzip();
                BindingRunnerEvent { job_ids: Some(ids), tokens: Some(tokens), ..event("lockLost") }
            }
            RunnerEvent::Cancel { job_id, reason } => {
                BindingRunnerEvent { job_ids: Some(vec![job_id]), message: reason, ..event("cancel") }
            }
            RunnerEvent::Error(err) => BindingRunnerEvent { message: Some(error_text(err)), ..event("error") },
            RunnerEvent::Ping(_) => event("ping"),
        }
    }
}

/// One completion as JavaScript sends it (an element of the JSON array
/// `completeJobs` takes): `[jobId, token, returnValue, removeOnComplete,
/// workerRemoveOnComplete, attempts, fetchNext]`, the return value as JSON in
/// place, the options as the job and the worker give them (null: absent).
#[derive(Deserialize)]
struct CompletionIn<'a>(
    String,
    String,
    #[serde(borrow)] &'a RawValue,
    Option<Value>,
    Option<Value>,
    Option<f64>,
    u8,
);

/// A number as napi converts it to an integer (truncated; not finite = 0).
fn int(v: Option<f64>) -> i64 {
    v.filter(|f| f.is_finite()).map(|f| f as i64).unwrap_or(0)
}

impl From<CompletionIn<'_>> for Finish {
    fn from(c: CompletionIn<'_>) -> Self {
        Finish::completed(c.0, c.1, c.2.get().to_string(), c.3.as_ref(), c.4.as_ref(), int(c.5), c.6 != 0)
    }
}

/// Results of `completeJobs` as JSON: three elements per completion, in
/// order: the error in the native error format or null, 1 when the queue
/// just became drained (else 0), and the next job (locked by the same
/// token) as `[id, [field, value, ...]]` or 0.
fn completions_json(results: Vec<crate::engine::Result<Finished>>) -> String {
    let room = |r: &crate::engine::Result<Finished>| match r {
        Ok(Finished { next: Some(next), .. }) => 16 + delivered_len(next),
        _ => 64,
    };
    let mut out = Vec::with_capacity(2 + results.iter().map(room).sum::<usize>());
    out.push(b'[');
    for (i, result) in results.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match result {
            Ok(done) => {
                out.extend_from_slice(if done.drained { b"null,1," } else { b"null,0," });
                match &done.next {
                    // The token is the finished job's (JavaScript has it).
                    Some(next) => {
                        out.push(b'[');
                        push_json_str(&mut out, &next.job.id);
                        out.push(b',');
                        out.extend_from_slice(next.job.fields.as_bytes());
                        out.push(b']');
                    }
                    None => out.push(b'0'),
                }
            }
            Err(err) => {
                push_json_str(&mut out, &error_text(err));
                out.extend_from_slice(b",0,0");
            }
        }
    }
    out.push(b']');
    into_text(out)
}

/// The outcome of a failed attempt reported by the run loop.
#[napi(object)]
pub struct BindingRunnerFailed {
    pub failed: BindingFailed,
    /// Fetch-next found no job and the queue just became drained.
    pub drained: bool,
}

/// Hands an event to the run callback, unless it was released (closed).
fn send_event(events: &std::sync::Mutex<Option<RunnerCallback>>, event: BindingRunnerEvent) {
    if let Ok(guard) = events.lock() {
        if let Some(callback) = guard.as_ref() {
            callback.call(event, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

/// Sends a ping through the run callback and answers it once the callback
/// ran on JavaScript's thread.
fn send_ping(events: &std::sync::Mutex<Option<RunnerCallback>>, pong: Pong) {
    if let Ok(guard) = events.lock() {
        if let Some(callback) = guard.as_ref() {
            callback.call_with_return_value(event("ping"), ThreadsafeFunctionCallMode::NonBlocking, move |_, _| {
                pong.answered();
                Ok(())
            });
        }
    }
}

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
        let max_event_loop_block = options.max_event_loop_block.unwrap_or(DEFAULT_MAX_EVENT_LOOP_BLOCK);
        if max_event_loop_block <= 0 {
            return Err(invalid(format!(
                "maxEventLoopBlock must be a positive number of milliseconds, got {max_event_loop_block}"
            )));
        }
        let events = self.events.clone();
        let sink = Box::new(move |e: RunnerEvent| match e {
            RunnerEvent::Ping(pong) => send_ping(&events, pong),
            e => send_event(&events, e.into()),
        });
        let opts = RunnerOptions {
            concurrency: options.concurrency.max(1) as usize,
            lock_renew_time: options
                .lock_renew_time
                .unwrap_or_else(|| default_lock_renew_time(self.core.options.fetch.lock_duration as f64) as i64)
                .max(0),
            skip_stalled_check: options.skip_stalled_check,
            token_prefix: options.token_prefix,
            run_retry_delay: options.run_retry_delay.unwrap_or(DEFAULT_RUN_RETRY_DELAY),
            max_event_loop_block,
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
    #[napi(catch_unwind)]
    pub fn set_concurrency(&self, concurrency: u32) -> Result<()> {
        self.runner()?.set_concurrency(concurrency.max(1) as usize);
        Ok(())
    }

    /// Stops fetching new jobs (jobs in flight go on).
    #[napi(catch_unwind)]
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

    /// Completes jobs the run loop handed out, in one script call, without
    /// making JavaScript wait on a promise: the results come back through
    /// the run callback as a `completed` event with the same `batch` number.
    /// `completions` is a JSON array of `[jobId, token, returnValue,
    /// removeOnComplete, workerRemoveOnComplete, attempts, fetchNext]` (see
    /// `CompletionIn`); the results are JSON too (see `completions_json`).
    #[napi(catch_unwind)]
    pub fn complete_jobs(&self, batch: u32, completions: String) -> Result<()> {
        let runner = self.runner()?;
        let events = self.events.clone();
        let task_runner = runner.clone();
        let task = async move {
            let event = match serde_json::from_str::<Vec<CompletionIn>>(&completions) {
                Ok(parsed) => {
                    let finishes: Vec<Finish> = parsed.into_iter().map(Into::into).collect();
                    // A panic fails the batch, as a failed script call does:
                    // JavaScript is waiting for this event.
                    match guard::catch("worker's completion", task_runner.complete_many(finishes)).await {
                        Ok(results) => BindingRunnerEvent {
                            jobs: Some(completions_json(results)),
                            batch: Some(batch),
                            ..event("completed")
                        },
                        Err(err) => {
                            BindingRunnerEvent { message: Some(error_text(err)), batch: Some(batch), ..event("completed") }
                        }
                    }
                }
                Err(e) => BindingRunnerEvent {
                    message: Some(format!("invalid completions: {e}")),
                    batch: Some(batch),
                    ..event("completed")
                },
            };
            send_event(&events, event);
        };
        runner.spawn(task).napi()
    }

    /// Fails an attempt of a job the run loop handed out; the next job (same
    /// token) is in `next` when fetch-next found one.
    #[napi]
    pub async fn fail_job(&self, attempt: BindingFailedAttempt) -> Result<BindingRunnerFailed> {
        let runner = self.runner()?;
        let (job_id, token) = (attempt.job_id.clone(), attempt.token.clone());
        let attempt = match FailedAttempt::try_from(attempt) {
            Ok(attempt) => attempt,
            Err(err) => {
                // Refused before the engine saw it (say, stored options with
                // an unusable backoff): the run loop still lets go of the job,
                // or its slot and lock renewal would be held for good. Its
                // lock expires and it stalls, as in BullMQ.
                runner.release(&job_id, &token);
                return Err(err);
            }
        };
        let timestamp = attempt.timestamp;
        let (result, drained) = runner.fail(attempt).await.napi()?;
        Ok(BindingRunnerFailed { failed: failed_to_js(result, timestamp), drained })
    }

    /// Forgets a job the processor moved itself (DelayedError and the like).
    #[napi(catch_unwind)]
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

