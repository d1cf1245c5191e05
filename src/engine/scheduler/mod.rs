//! Job schedulers (BullMQ 6.x): upsert, the next iteration produced when a
//! worker fetches the current one, removal and getters. The Redis layout is
//! BullMQ's: the `repeat` sorted set (scheduler id -> millis of its pending
//! iteration), the hash `repeat:{id}` and iteration jobs
//! `repeat:{id}:{millis}` with field `rjk`.
//!
//! The rules live here and in the scripts: `plan.rs` holds what BullMQ's
//! client decides (checks, the end of a schedule, pattern times, iteration
//! options); lua/addJobScheduler.lua and lua/updateJobScheduler.lua compute
//! `every` times and write the scheduler and its iteration atomically.

mod plan;

use redis::Value as RedisValue;
use serde_json::{Map, Value};

use super::active::{FetchSettings, Finish};
use super::error::{EngineError, Result};
use super::job::{stored_names, RawJob};
use super::queue::Queue;
use super::reply::{as_int, as_string, as_strings, Fetched};

pub use plan::{check, job_opts, next_millis, pattern_next, plan, Plan, Strategy};

crate::lua_script!(
    /// Creates or updates a scheduler and its pending iteration.
    ADD_JOB_SCHEDULER => ["includes/common.lua", "includes/removal.lua", "includes/scheduler.lua", "addJobScheduler.lua"]
);
crate::lua_script!(
    /// Adds a scheduler's next iteration, guarded by the producing job's id.
    UPDATE_JOB_SCHEDULER => ["includes/common.lua", "includes/removal.lua", "includes/scheduler.lua", "updateJobScheduler.lua"]
);
crate::lua_script!(
    /// Removes a scheduler and its delayed iteration.
    REMOVE_JOB_SCHEDULER => ["includes/common.lua", "removeJobScheduler.lua"]
);

/// A scheduler to upsert, as the user gave it (dates in milliseconds).
#[derive(Debug, Clone)]
pub struct Upsert {
    pub id: String,
    /// The repeat options (`every` | `pattern`, `tz`, `limit`, ...).
    pub repeat: Map<String, Value>,
    /// The template's name (BullMQ defaults it to the scheduler id).
    pub name: String,
    /// JSON text of the template's data.
    pub data: String,
    /// The template's options merged over the queue's defaultJobOptions
    /// (public names).
    pub opts: Map<String, Value>,
    pub strategy: Strategy,
    pub now: i64,
}

/// The iteration an upsert created.
#[derive(Debug, Clone)]
pub struct Iteration {
    pub id: String,
    pub delay: i64,
    /// Its options in public form (with `delay` and `jobId`).
    pub opts: Map<String, Value>,
}

/// A scheduler as BullMQ's `getJobScheduler(s)` returns it (JobSchedulerJson).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchedulerJson {
    pub key: String,
    pub name: String,
    /// Millis of the pending iteration.
    pub next: Option<i64>,
    pub iteration_count: Option<i64>,
    pub limit: Option<i64>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub tz: Option<String>,
    pub pattern: Option<String>,
    pub every: Option<i64>,
    pub offset: Option<i64>,
    /// JSON text of the template data, when stored.
    pub template_data: Option<String>,
    /// The template's stored options (JSON, short keys), when stored.
    pub template_opts: Option<String>,
}

/// Whether a job id can be a scheduler iteration (`repeat:{id}:{millis}`,
/// or a legacy repeatable job's): the cheap test a fetched job passes before
/// its hash is looked at.
pub fn is_iteration_id(job_id: &str) -> bool {
    job_id.starts_with("repeat:")
}

/// BullMQ's rule for the repeat keys of legacy (v5) repeatable jobs,
/// `name:id:endDate:tz:pattern|every`.
pub fn has_legacy_shape(key: &str) -> bool {
    let parts: Vec<&str> = key.splitn(5, ':').collect();
    if parts.len() < 5 {
        return false;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !parts[2].is_empty() && !digits(parts[2]) {
        return false;
    }
    let suffix = parts[4];
    !suffix.is_empty() && (suffix.contains(' ') || digits(suffix))
}

/// Where BullMQ explains moving legacy repeatable jobs to job schedulers.
pub const LEGACY_MIGRATION_URL: &str = "https://docs.bullmq.io/guide/migrations/migrate-from-v5-to-v6";

/// BullMQ's message for a legacy repeatable job met where a scheduler was
/// expected.
pub fn legacy_error_message(key: &str) -> String {
    format!(
        "Legacy repeatable job metadata is not supported in BullMQ v6 (key: \"{key}\"). Migrate legacy \
         repeatable jobs to Job Schedulers before upgrading. See {LEGACY_MIGRATION_URL}"
    )
}

fn legacy_error(key: &str) -> EngineError {
    EngineError::other(legacy_error_message(key))
}

/// A number as the scripts take it ('' when absent).
fn num_arg(v: Option<i64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

/// JavaScript's `parseInt` of a stored field (its leading integer).
fn parse_int(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let end = t.char_indices().find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')))).map_or(t.len(), |(i, _)| i);
    t[..end].parse().ok()
}

impl SchedulerJson {
    /// BullMQ's `transformSchedulerData` of a scheduler hash.
    fn from_fields(key: &str, fields: &[(String, String)], next: Option<i64>) -> Self {
        let get = |f: &str| fields.iter().find(|(k, _)| k == f).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
        SchedulerJson {
            key: key.to_string(),
            name: get("name").unwrap_or_default().to_string(),
            next,
            iteration_count: get("ic").and_then(parse_int),
            limit: get("limit").and_then(parse_int),
            start_date: get("startDate").and_then(parse_int),
            end_date: get("endDate").and_then(parse_int),
            tz: get("tz").map(str::to_string),
            pattern: get("pattern").map(str::to_string),
            every: get("every").and_then(parse_int),
            offset: get("offset").and_then(parse_int),
            template_data: get("data").map(str::to_string),
            template_opts: get("opts").map(str::to_string),
        }
    }
}

fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    RawJob::from_flat(String::new(), flat).fields
}

impl Queue {
    /// BullMQ's `Queue.upsertJobScheduler`: creates or updates the scheduler
    /// and its pending iteration; `None` when the schedule has nothing left
    /// to run (its `limit` reached, or no pattern time left).
    pub async fn upsert_job_scheduler(&self, u: &Upsert) -> Result<Option<Iteration>> {
        let end = plan::millis(u.repeat.get("endDate")).filter(|_| plan::truthy(u.repeat.get("endDate")));
        if end.is_some_and(|end| end < u.now) {
            return Err(EngineError::other("End date must be greater than current timestamp"));
        }
        let Some(plan) = plan(&u.id, &u.repeat, &u.opts, u.strategy, u.now)? else {
            return Ok(None);
        };
        let field = |k: &str| u.repeat.get(k).filter(|v| plan::truthy(Some(v)));
        let text = |k: &str| field(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default();
        let ms = |k: &str| num_arg(plan::millis(field(k)));
        let limit = match u.repeat.get("limit") {
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let mut inv = self.script(&ADD_JOB_SCHEDULER);
        inv.arg(&u.id)
            .arg(num_arg(plan.next_millis))
            .arg(u.now)
            .arg(&u.data)
            .arg(Value::Object(stored_names(&u.opts)).to_string())
            .arg(plan.stored_opts_json())
            .arg(&u.name)
            .arg(text("tz"))
            .arg(limit)
            .arg(text("pattern"))
            .arg(ms("startDate"))
            .arg(ms("endDate"))
            .arg(ms("every"))
            .arg(num_arg(plan.offset));
        let reply: RedisValue = inv.invoke_async(&mut self.cmd()).await?;
        match reply {
            RedisValue::Int(code) if code < 0 => Err(EngineError::from_code(code, &u.id, "addJobScheduler", "")),
            RedisValue::Array(items) if items.len() == 2 => {
                let id = as_string(&items[0]).unwrap_or_default();
                let delay = as_int(&items[1]).unwrap_or(0);
                let mut opts = plan.opts;
                opts.insert("delay".into(), delay.into());
                opts.insert("jobId".into(), id.clone().into());
                Ok(Some(Iteration { id, delay, opts }))
            }
            _ => Err(EngineError::other("unexpected reply from the addJobScheduler script")),
        }
    }

    /// Produces the next iteration of the scheduler whose iteration `job` a
    /// worker just fetched (what BullMQ's worker does before processing it).
    /// Only the scheduler's current iteration produces one. Jobs that are
    /// not iterations are left alone; with `external_patterns`, pattern
    /// iterations are too (the caller's own strategy computes their time and
    /// calls `continue_job_scheduler` with it). Returns the new iteration's
    /// id when one was added.
    pub async fn continue_job_scheduler(&self, job: &RawJob, strategy: Strategy, external_patterns: bool) -> Result<Option<String>> {
        let Some(scheduler_id) = job.get("rjk").filter(|k| !k.is_empty()) else {
            return Ok(None);
        };
        if has_legacy_shape(scheduler_id) && !self.is_job_scheduler(scheduler_id).await? {
            return Err(next_iteration_error(legacy_error(scheduler_id)));
        }
        let stored: Map<String, Value> = match job.get("opts").map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(m))) => m,
            _ => Map::new(),
        };
        let opts = job_opts(&stored);
        let Some(Value::Object(repeat)) = opts.get("repeat") else {
            return Err(next_iteration_error(EngineError::other(
                "Cannot destructure property 'every' of 'repeatOpts' as it is undefined.",
            )));
        };
        if external_patterns && strategy == Strategy::Default && plan::truthy(repeat.get("pattern")) {
            return Ok(None);
        }
        let now = super::queue::now_ms();
        let planned = plan(scheduler_id, repeat, &opts, strategy, now).map_err(next_iteration_error)?;
        let Some(plan) = planned else {
            return Ok(None);
        };
        let mut inv = self.script(&UPDATE_JOB_SCHEDULER);
        inv.arg(scheduler_id).arg(num_arg(plan.next_millis)).arg(now).arg(plan.stored_opts_json()).arg(&job.id);
        let reply: RedisValue = inv.invoke_async(&mut self.cmd()).await.map_err(|e| next_iteration_error(e.into()))?;
        Ok(as_string(&reply))
    }

    /// `continue_job_scheduler` for a job read by id, with the time a
    /// caller's own strategy gave (`None`: no next iteration).
    pub async fn continue_job_scheduler_at(&self, job_id: &str, next_millis: Option<i64>) -> Result<Option<String>> {
        let Some(job) = self.get_job(job_id).await? else {
            return Ok(None);
        };
        self.continue_job_scheduler(&job, Strategy::Given(next_millis), false).await
    }

    /// `move_to_finished` for a job finished outside a worker (a Queue's
    /// job): a next job that is an iteration continues its schedule, as
    /// every fetch does.
    pub async fn finish_outside_worker(&self, finish: &Finish, settings: &FetchSettings) -> Result<Fetched> {
        let fetched = self.move_to_finished(finish, settings).await?;
        if let Fetched::Job(job) = &fetched {
            if is_iteration_id(&job.id) {
                if let Err(err) = self.continue_job_scheduler(job, Strategy::Default, false).await {
                    tracing::warn!(%err, "a job scheduler could not continue");
                }
            }
        }
        Ok(fetched)
    }

    /// Removes a scheduler and its delayed iteration; false when there was
    /// no such scheduler.
    pub async fn remove_job_scheduler(&self, id: &str) -> Result<bool> {
        let mut inv = self.script(&REMOVE_JOB_SCHEDULER);
        inv.arg(id);
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        Ok(code == 0)
    }

    /// Whether `id` names a scheduler (its hash has the iteration count, which
    /// legacy repeatable jobs never wrote).
    pub async fn is_job_scheduler(&self, id: &str) -> Result<bool> {
        let key = self.keys.key(&format!("repeat:{id}"));
        let exists: i64 = redis::cmd("HEXISTS").arg(key).arg("ic").query_async(&mut self.cmd()).await?;
        Ok(exists == 1)
    }

    /// One scheduler; `None` when there is none with this id.
    pub async fn get_job_scheduler(&self, id: &str) -> Result<Option<SchedulerJson>> {
        let (flat, score): (Vec<String>, Option<String>) = redis::pipe()
            .cmd("HGETALL")
            .arg(self.keys.key(&format!("repeat:{id}")))
            .cmd("ZSCORE")
            .arg(self.keys.key("repeat"))
            .arg(id)
            .query_async(&mut self.cmd())
            .await?;
        let Some(score) = score else {
            return if has_legacy_shape(id) { Err(legacy_error(id)) } else { Ok(None) };
        };
        if flat.is_empty() {
            return if has_legacy_shape(id) { Err(legacy_error(id)) } else { Ok(None) };
        }
        Ok(Some(SchedulerJson::from_fields(id, &pairs(flat), parse_int(&score))))
    }

    /// Schedulers by the time of their pending iteration, positions
    /// `start..end` (inclusive), latest first unless `asc`. A scheduler whose
    /// hash is gone is removed (as BullMQ does); a legacy repeatable job is an
    /// error.
    pub async fn get_job_schedulers(&self, start: i64, end: i64, asc: bool) -> Result<Vec<SchedulerJson>> {
        let cmd = if asc { "ZRANGE" } else { "ZREVRANGE" };
        let ranked: Vec<String> = redis::cmd(cmd)
            .arg(self.keys.key("repeat"))
            .arg(start)
            .arg(end)
            .arg("WITHSCORES")
            .query_async(&mut self.cmd())
            .await?;
        let ids: Vec<(String, String)> = pairs(ranked);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (id, _) in &ids {
            pipe.cmd("HGETALL").arg(self.keys.key(&format!("repeat:{id}")));
        }
        let hashes: Vec<RedisValue> = pipe.query_async(&mut self.cmd()).await?;
        let mut out = Vec::with_capacity(ids.len());
        for ((id, score), hash) in ids.iter().zip(hashes) {
            let flat = as_strings(&hash);
            if flat.is_empty() {
                if has_legacy_shape(id) {
                    return Err(legacy_error(id));
                }
                self.remove_job_scheduler(id).await?;
                continue;
            }
            out.push(SchedulerJson::from_fields(id, &pairs(flat), parse_int(score)));
        }
        Ok(out)
    }

    /// The number of schedulers.
    pub async fn job_schedulers_count(&self) -> Result<i64> {
        Ok(redis::cmd("ZCARD").arg(self.keys.key("repeat")).query_async(&mut self.cmd()).await?)
    }
}

/// How BullMQ's worker reports a next iteration it could not add.
fn next_iteration_error(err: EngineError) -> EngineError {
    EngineError { message: format!("Failed to add repeatable job for next iteration: {}", err.message), ..err }
}

