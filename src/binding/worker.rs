//! `BindingWorker`: the native half of `Worker`.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::convert::{BindingFetched, BindingRawJob};
use super::error::IntoNapi;
use super::queue::BindingQueue;
use crate::engine::active::{FetchSettings, Finish, KeepJobs, Outcome};
use crate::engine::queue::now_ms;
use crate::engine::worker::{WorkerCore, WorkerOptions};

#[napi(object)]
pub struct BindingWorkerOptions {
    pub lock_duration: i64,
    pub stalled_interval: i64,
    pub max_stalled_count: i64,
    /// Seconds.
    pub drain_delay: f64,
    pub limiter_max: Option<i64>,
    pub limiter_duration: Option<i64>,
    pub name: Option<String>,
}

#[napi(object)]
pub struct BindingKeepJobs {
    pub count: i64,
    pub age: Option<i64>,
    pub limit: Option<i64>,
}

impl From<BindingKeepJobs> for KeepJobs {
    fn from(k: BindingKeepJobs) -> Self {
        KeepJobs { count: k.count, age: k.age.unwrap_or(0), limit: k.limit.unwrap_or(1000) }
    }
}

#[napi(object)]
pub struct BindingFinish {
    pub job_id: String,
    pub token: String,
    /// JSON text of the return value (completed), absent for failures.
    pub return_value: Option<String>,
    /// Failure reason (final failure).
    pub failed_reason: Option<String>,
    /// JSON array text of the stack traces to store (final failure).
    pub stacktrace: Option<String>,
    pub keep: BindingKeepJobs,
    pub attempts: i64,
    pub fetch_next: bool,
}

impl From<BindingFinish> for Finish {
    fn from(f: BindingFinish) -> Self {
        let outcome = match f.failed_reason {
            Some(reason) => Outcome::Failed {
                reason,
                stacktrace: f.stacktrace.unwrap_or_else(|| "[]".to_string()),
            },
            None => Outcome::Completed(f.return_value.unwrap_or_else(|| "null".to_string())),
        };
        Finish {
            job_id: f.job_id,
            token: f.token,
            outcome,
            keep: f.keep.into(),
            attempts: f.attempts,
            fetch_next: f.fetch_next,
            timestamp: now_ms(),
        }
    }
}

#[napi]
pub struct BindingWorker {
    core: Arc<WorkerCore>,
}

#[napi]
pub async fn open_worker(queue: &BindingQueue, options: BindingWorkerOptions) -> Result<BindingWorker> {
    let opts = WorkerOptions {
        fetch: FetchSettings {
            lock_duration: options.lock_duration,
            limiter_max: options.limiter_max.unwrap_or(0),
            limiter_duration: options.limiter_duration.unwrap_or(0),
            worker_name: options.name.unwrap_or_default(),
        },
        drain_delay: options.drain_delay,
        stalled_interval: options.stalled_interval,
        max_stalled_count: options.max_stalled_count,
    };
    let core = WorkerCore::open(queue.queue.clone(), opts).await.napi()?;
    Ok(BindingWorker { core })
}

#[napi]
impl BindingWorker {
    #[napi]
    pub async fn get_next_job(&self, token: String, block: bool) -> Result<Option<BindingRawJob>> {
        Ok(self.core.get_next_job(&token, block).await.napi()?.map(Into::into))
    }

    /// Completes or finally fails a job; the next job when `fetchNext` found one.
    #[napi]
    pub async fn move_to_finished(&self, finish: BindingFinish) -> Result<BindingFetched> {
        let finish: Finish = finish.into();
        let fetched = self
            .core
            .queue()
            .move_to_finished(&finish, &self.core.options.fetch)
            .await
            .napi()?;
        let job = self.core.record_fetch_next(fetched.clone()).await;
        let mut out: BindingFetched = fetched.into();
        out.job = job.map(Into::into);
        Ok(out)
    }

    #[napi]
    pub async fn close(&self) {
        self.core.close().await;
    }
}
