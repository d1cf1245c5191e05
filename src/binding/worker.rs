//! `BindingWorker`: the native half of `Worker`.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use super::error::IntoNapi;
use super::queue::BindingQueue;
use super::types::{failed_to_js, BindingFailed, BindingFailedAttempt, BindingFetched, BindingFinish, BindingRawJob, RunnerCallback};
use crate::engine::active::{Fetch, FetchSettings, Finish};
use crate::engine::retry::FailedAttempt;
use crate::engine::runner::{Runner, DEFAULT_CONCURRENCY, DEFAULT_RUN_RETRY_DELAY};
use crate::engine::worker::{WorkerCore, WorkerOptions, MAX_BLOCK_SECS};

/// The worker's options as the user gave them (absent: the engine's default).
#[napi(object)]
pub struct BindingWorkerOptions {
    pub lock_duration: Option<i64>,
    pub stalled_interval: Option<i64>,
    pub max_stalled_count: Option<i64>,
    /// Seconds.
    pub drain_delay: Option<f64>,
    pub limiter_max: Option<i64>,
    pub limiter_duration: Option<i64>,
    pub name: Option<String>,
    /// The worker has its own `settings.repeatStrategy` (it computes the
    /// next time of pattern schedulers itself).
    pub custom_repeat_strategy: Option<bool>,
    /// `metrics.maxDataPoints`; absent or 0 records no metrics.
    pub metrics_max_data_points: Option<i64>,
    /// `maximumRateLimitDelay` in ms.
    pub maximum_rate_limit_delay: Option<i64>,
    /// `skipVersionCheck`.
    pub skip_version_check: Option<bool>,
}

#[napi]
pub struct BindingWorker {
    pub(super) core: Arc<WorkerCore>,
    /// The run loop, once `run` started it (runner.rs).
    pub(super) runner: std::sync::Mutex<Option<Arc<Runner>>>,
    /// The run loop's callback; dropped (released) on close.
    pub(super) events: Arc<std::sync::Mutex<Option<RunnerCallback>>>,
}

/// BullMQ's defaults of the worker options the engine reads (what
/// `worker.opts` shows for an option not given).
#[napi(object)]
pub struct BindingWorkerDefaults {
    pub lock_duration: i64,
    pub stalled_interval: i64,
    pub max_stalled_count: i64,
    /// Seconds.
    pub drain_delay: f64,
    pub concurrency: u32,
    pub run_retry_delay: i64,
    pub maximum_rate_limit_delay: i64,
}

#[napi(catch_unwind)]
pub fn worker_defaults() -> BindingWorkerDefaults {
    let d = WorkerOptions::default();
    BindingWorkerDefaults {
        lock_duration: d.fetch.lock_duration,
        stalled_interval: d.stalled_interval,
        max_stalled_count: d.max_stalled_count,
        drain_delay: d.drain_delay,
        concurrency: DEFAULT_CONCURRENCY as u32,
        run_retry_delay: DEFAULT_RUN_RETRY_DELAY,
        maximum_rate_limit_delay: d.max_rate_limit_delay,
    }
}

#[napi]
pub async fn open_worker(queue: &BindingQueue, options: BindingWorkerOptions) -> Result<BindingWorker> {
    let d = WorkerOptions::default();
    let opts = WorkerOptions {
        fetch: FetchSettings {
            lock_duration: options.lock_duration.unwrap_or(d.fetch.lock_duration),
            limiter_max: options.limiter_max.unwrap_or(0),
            limiter_duration: options.limiter_duration.unwrap_or(0),
            worker_name: options.name.unwrap_or_default(),
            metrics_max_data_points: options.metrics_max_data_points.unwrap_or(0).max(0),
        },
        drain_delay: options.drain_delay.unwrap_or(d.drain_delay),
        stalled_interval: options.stalled_interval.unwrap_or(d.stalled_interval),
        max_stalled_count: options.max_stalled_count.unwrap_or(d.max_stalled_count),
        external_pattern_strategy: options.custom_repeat_strategy.unwrap_or(false),
        max_rate_limit_delay: options.maximum_rate_limit_delay.unwrap_or(d.max_rate_limit_delay),
        skip_version_check: options.skip_version_check.unwrap_or(false),
    };
    let core = WorkerCore::open(queue.queue.clone(), opts).await.napi()?;
    Ok(BindingWorker { core, runner: Default::default(), events: Default::default() })
}

/// BullMQ's `Worker.getBlockTimeout`: seconds to block on the marker until
/// `blockUntil` (ms; 0 = no delayed job known), or `drainDelay`; <= 0 means
/// "fetch now". `minimumBlockTimeout` is the worker's.
#[napi]
pub fn block_timeout(block_until: f64, now: f64, drain_delay: f64, minimum_block_timeout: f64) -> f64 {
    crate::engine::worker::block_timeout(block_until, now, drain_delay, minimum_block_timeout)
}

/// BullMQ's `lockRenewTime` for a worker that gives none (what `worker.opts`
/// shows), from its lock duration.
#[napi(catch_unwind)]
pub fn default_lock_renew_time(lock_duration: f64) -> f64 {
    crate::engine::runner::default_lock_renew_time(lock_duration)
}

/// BullMQ's `maximumBlockTimeout`: the longest marker block, in seconds.
#[napi]
pub fn maximum_block_timeout() -> f64 {
    MAX_BLOCK_SECS
}

#[napi]
impl BindingWorker {
    /// The shortest marker block this worker's server allows, in seconds
    /// (BullMQ's `minimumBlockTimeout`).
    #[napi(getter)]
    pub fn minimum_block_timeout(&self) -> f64 {
        self.core.min_block_secs()
    }

    #[napi]
    pub async fn get_next_job(&self, token: String, block: bool) -> Result<Option<BindingRawJob>> {
        Ok(self.core.get_next_job(&token, block).await.napi()?.map(Into::into))
    }

    /// Completes a job (the run loop's batch path with one job); the next
    /// job when `fetchNext` found one.
    #[napi]
    pub async fn move_to_finished(&self, finish: BindingFinish) -> Result<BindingFetched> {
        let finish: Finish = finish.into();
        let result = self.core.finish(std::slice::from_ref(&finish)).await.napi()?.pop();
        Ok(result.unwrap_or(Ok(Fetch::Nothing)).and_then(Fetch::into_fetched).napi()?.into())
    }

    /// Fails an attempt (retry or final failure) with the worker's settings.
    #[napi]
    pub async fn move_to_failed(&self, attempt: BindingFailedAttempt) -> Result<BindingFailed> {
        let attempt = FailedAttempt::try_from(attempt)?;
        let result = self.core.fail(&attempt).await.napi()?;
        Ok(failed_to_js(result, attempt.timestamp))
    }

    /// Starts the stalled checker; `callback` gets each report. The callback
    /// does not keep Node's event loop alive, and is released on close.
    #[napi(ts_args_type = "callback: (report: BindingStalledReport) => void")]
    pub async fn start_stalled_check_timer(&self, callback: StalledCallback) -> Result<()> {
        self.core.start_stalled_check_timer(Box::new(move |checked| {
            let report = match checked {
                Ok(job_ids) => BindingStalledReport { job_ids, error: None },
                Err(err) => BindingStalledReport { job_ids: Vec::new(), error: Some(err.message) },
            };
            callback.call(report, ThreadsafeFunctionCallMode::NonBlocking);
        }));
        Ok(())
    }

    /// Closes the worker: stops the run loop, lock renewal and the cancel
    /// subscription, and releases the run loop's callback.
    /// Drops the blocking connection, leaving the worker open (`disconnect`).
    #[napi]
    pub async fn drop_blocking_connection(&self) {
        self.core.drop_blocking().await;
    }

    #[napi]
    pub async fn close(&self) {
        self.shutdown_runner().await;
        self.core.close().await;
    }
}

/// What one stalled check reports to JavaScript.
#[napi(object)]
pub struct BindingStalledReport {
    /// Ids of the jobs moved back to wait.
    pub job_ids: Vec<String>,
    /// The check failed with this message.
    pub error: Option<String>,
}

/// A weak (unref'd) callback: it never keeps the process alive.
type StalledCallback =
    ThreadsafeFunction<BindingStalledReport, (), BindingStalledReport, Status, false, true>;
