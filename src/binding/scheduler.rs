//! Job schedulers on `BindingQueue` (upsert, getters, removal) and the
//! worker's hooks for them. The facade (lib/job-scheduler.ts) checks the
//! shapes; the engine (engine/scheduler) decides.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::{Map, Value};

use super::error::{invalid, to_napi, IntoNapi};
use super::queue::BindingQueue;
use super::worker::BindingWorker;
use crate::engine::queue::now_ms;
use crate::engine::scheduler::{self, SchedulerJson, Strategy, Upsert};

/// An upsert as the facade passes it: the user's repeat options (dates in
/// ms) and template, JSON where they are objects.
#[napi(object)]
pub struct BindingUpsert {
    pub id: String,
    /// JSON of the repeat options.
    pub repeat: String,
    pub name: String,
    /// JSON text of the template data.
    pub data: String,
    /// JSON of the template options merged over the queue's defaults.
    pub opts: String,
    /// The queue has its own repeat strategy, which gave `nextMillis` (absent
    /// = no next time).
    pub custom_strategy: bool,
    pub next_millis: Option<f64>,
}

/// The iteration an upsert created.
#[napi(object)]
pub struct BindingIteration {
    pub id: String,
    pub delay: i64,
    /// JSON of its options (public names).
    pub opts: String,
}

/// BullMQ's JobSchedulerJson, template data and options as stored (JSON).
#[napi(object)]
pub struct BindingJobScheduler {
    pub key: String,
    pub name: String,
    pub next: Option<i64>,
    pub iteration_count: Option<i64>,
    pub limit: Option<i64>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub tz: Option<String>,
    pub pattern: Option<String>,
    pub every: Option<i64>,
    pub offset: Option<i64>,
    pub template_data: Option<String>,
    pub template_opts: Option<String>,
}

impl From<SchedulerJson> for BindingJobScheduler {
    fn from(s: SchedulerJson) -> Self {
        BindingJobScheduler {
            key: s.key,
            name: s.name,
            next: s.next,
            iteration_count: s.iteration_count,
            limit: s.limit,
            start_date: s.start_date,
            end_date: s.end_date,
            tz: s.tz,
            pattern: s.pattern,
            every: s.every,
            offset: s.offset,
            template_data: s.template_data,
            template_opts: s.template_opts,
        }
    }
}

fn object(method: &str, what: &str, text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(invalid(format!("{method}: {what} must be an object"))),
    }
}

/// A time from JavaScript as whole milliseconds (not finite = none).
fn whole_ms(v: Option<f64>) -> Option<i64> {
    v.filter(|f| f.is_finite()).map(|f| f as i64)
}

#[napi]
impl BindingQueue {
    /// Creates or updates a job scheduler; its new pending iteration, or
    /// nothing when the schedule has nothing left to run.
    #[napi]
    pub async fn upsert_job_scheduler(&self, u: BindingUpsert) -> Result<Option<BindingIteration>> {
        let upsert = Upsert {
            repeat: object("upsertJobScheduler", "repeatOpts", &u.repeat)?,
            opts: object("upsertJobScheduler", "template.opts", &u.opts)?,
            id: u.id,
            name: u.name,
            data: u.data,
            strategy: if u.custom_strategy { Strategy::Given(whole_ms(u.next_millis)) } else { Strategy::Default },
            now: now_ms(),
        };
        let made = self.queue.upsert_job_scheduler(&upsert).await.napi()?;
        Ok(made.map(|i| BindingIteration { id: i.id, delay: i.delay, opts: Value::Object(i.opts).to_string() }))
    }

    #[napi]
    pub async fn get_job_scheduler(&self, id: String) -> Result<Option<BindingJobScheduler>> {
        Ok(self.queue.get_job_scheduler(&id).await.napi()?.map(Into::into))
    }

    #[napi]
    pub async fn get_job_schedulers(&self, start: i64, end: i64, asc: bool) -> Result<Vec<BindingJobScheduler>> {
        Ok(self.queue.get_job_schedulers(start, end, asc).await.napi()?.into_iter().map(Into::into).collect())
    }

    #[napi]
    pub async fn get_job_schedulers_count(&self) -> Result<i64> {
        self.queue.job_schedulers_count().await.napi()
    }

    /// True when the scheduler existed and was removed.
    #[napi]
    pub async fn remove_job_scheduler(&self, id: String) -> Result<bool> {
        self.queue.remove_job_scheduler(&id).await.napi()
    }

    #[napi]
    pub async fn is_job_scheduler(&self, id: String) -> Result<bool> {
        self.queue.is_job_scheduler(&id).await.napi()
    }

    /// Adds the next iteration after the fetched iteration `jobId`, at the
    /// time a worker's own repeat strategy gave (absent = none); the new
    /// iteration's id when one was added.
    #[napi]
    pub async fn continue_job_scheduler(&self, job_id: String, next_millis: Option<f64>) -> Result<Option<String>> {
        self.queue.continue_job_scheduler_at(&job_id, whole_ms(next_millis)).await.napi()
    }
}

/// A weak (unref'd) callback for errors in the native error format.
type ErrorCallback = ThreadsafeFunction<String, (), String, Status, false, true>;

#[napi]
impl BindingWorker {
    /// Where errors that fail no call go (BullMQ's `error` event), such as a
    /// next scheduler iteration that could not be added. The callback never
    /// keeps Node's event loop alive.
    #[napi(ts_args_type = "callback: (error: string) => void", catch_unwind)]
    pub fn on_error(&self, callback: ErrorCallback) {
        self.core.set_error_sink(Box::new(move |err| {
            callback.call(to_napi(err).reason, ThreadsafeFunctionCallMode::NonBlocking);
        }));
    }
}

/// BullMQ's `defaultRepeatStrategy` for a pattern: its next time after `millis`.
#[napi(catch_unwind)]
pub fn pattern_next_millis(millis: f64, repeat: String) -> Result<Option<f64>> {
    let repeat = object("defaultRepeatStrategy", "opts", &repeat)?;
    let next = scheduler::pattern_next(&repeat, millis as i64, now_ms()).napi()?;
    Ok(next.map(|n| n as f64))
}

/// BullMQ's `getNextMillis`: the next time after `millis` of an `every` or
/// pattern schedule.
#[napi(catch_unwind)]
pub fn schedule_next_millis(millis: f64, repeat: String) -> Result<Option<f64>> {
    let repeat = object("getNextMillis", "opts", &repeat)?;
    let next = scheduler::next_millis(&repeat, millis as i64, now_ms()).napi()?;
    Ok(next.map(|n| n as f64))
}

/// Whether `key` has the shape of a legacy (v5) repeatable job's key.
#[napi(catch_unwind)]
pub fn has_legacy_repeatable_key_shape(key: String) -> bool {
    scheduler::has_legacy_shape(&key)
}

/// BullMQ's message for a legacy repeatable job where a scheduler was expected.
#[napi(catch_unwind)]
pub fn legacy_repeatable_job_message(key: String) -> String {
    scheduler::legacy_error_message(&key)
}

/// Where BullMQ explains moving legacy repeatable jobs to job schedulers.
#[napi]
pub const LEGACY_REPEATABLE_JOBS_MIGRATION_URL: &str = scheduler::LEGACY_MIGRATION_URL;
