//! Operations on jobs a worker holds: fetching with a lock, and finishing
//! (complete / fail) with optional fetch-next. One core for the manual API
//! and the automatic worker, which fetches and finishes several jobs per
//! script call (`fetch_jobs`, `finish_jobs`). Every finish goes through
//! `finish_jobs` (one job is a batch of one).

use redis::Value;

use super::error::{EngineError, Result};
use super::job::RawJob;
use super::queue::{now_ms, Queue};
use super::reply::{as_string, into_text, no_job, parse_fetch, Fetched};
use super::scripts::{self, ScriptCall};

crate::lua_script!(
    /// Fetches up to n jobs in one call (n moveToActive fetches).
    FETCH_JOBS => ["includes/common.lua", "includes/fetch.lua", "fetchJobs.lua"]
);
crate::lua_script!(
    /// Completes or finally fails several jobs in one call, each with its
    /// own fetch-next (one moveToFinished per job).
    FINISH_JOBS => [
        "includes/common.lua", "includes/fetch.lua", "includes/dedup.lua", "includes/parent.lua",
        "includes/finish.lua", "finishJobs.lua"
    ]
);

/// The worker options a fetch needs.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub lock_duration: i64,
    pub limiter_max: i64,
    pub limiter_duration: i64,
    pub worker_name: String,
    /// The worker's `metrics.maxDataPoints`: finishes record BullMQ's
    /// per-minute metrics when it is above 0.
    pub metrics_max_data_points: i64,
}

impl Default for FetchSettings {
    fn default() -> Self {
        Self {
            lock_duration: 30_000,
            limiter_max: 0,
            limiter_duration: 0,
            worker_name: String::new(),
            metrics_max_data_points: 0,
        }
    }
}

/// How many finished jobs to keep (BullMQ's KeepJobs; `KeepJobs::resolve`
/// reads it from the options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// Completes or finally fails one job (`finish_jobs` with one job); with
    /// `fetch_next` returns the next job, already active and locked by the
    /// same token.
    pub async fn move_to_finished(&self, finish: &Finish, settings: &FetchSettings) -> Result<Fetched> {
        let mut results = self.finish_jobs(std::slice::from_ref(finish), settings, finish.timestamp).await?;
        results.pop().unwrap_or(Ok(Fetch::Nothing))?.into_fetched()
    }
}

/// A job's hash as JSON text, a flat `[field, value, ...]` array (what the
/// worker's batch scripts return), passed on to JavaScript as it is.
#[derive(Debug, Clone)]
pub struct JobText {
    pub id: String,
    pub fields: String,
}

impl JobText {
    pub fn from_raw(job: &RawJob) -> Self {
        let flat: Vec<&str> = job.fields.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]).collect();
        let fields = serde_json::to_string(&flat).unwrap_or_else(|_| "[]".to_string());
        Self { id: job.id.clone(), fields }
    }

    pub fn to_raw(&self) -> Result<RawJob> {
        let flat: Vec<String> = serde_json::from_str(&self.fields)?;
        Ok(RawJob::from_flat(self.id.clone(), flat))
    }

    /// Whether the hash has `field` (a quick scan of the text, confirmed by
    /// reading it when the name occurs).
    pub fn has_field(&self, field: &str) -> bool {
        let text = self.fields.as_bytes();
        let quoted = |(at, _): (usize, &str)| {
            at > 0 && text[at - 1] == b'"' && text.get(at + field.len()) == Some(&b'"')
        };
        self.fields.match_indices(field).any(quoted) && self.to_raw().is_ok_and(|job| job.get(field).is_some())
    }
}

/// What a fetch of the worker's batch scripts gave (`Fetched`, with the job
/// as text).
#[derive(Debug, Clone)]
pub enum Fetch {
    Job(JobText),
    RateLimited(i64),
    NextDelayed(i64),
    Nothing,
}

impl From<Fetched> for Fetch {
    fn from(f: Fetched) -> Self {
        match f {
            Fetched::Job(job) => Fetch::Job(JobText::from_raw(&job)),
            Fetched::RateLimited(ms) => Fetch::RateLimited(ms),
            Fetched::NextDelayed(ts) => Fetch::NextDelayed(ts),
            Fetched::Nothing => Fetch::Nothing,
        }
    }
}

impl Fetch {
    pub fn into_fetched(self) -> Result<Fetched> {
        Ok(match self {
            Fetch::Job(job) => Fetched::Job(job.to_raw()?),
            Fetch::RateLimited(ms) => Fetched::RateLimited(ms),
            Fetch::NextDelayed(ts) => Fetched::NextDelayed(ts),
            Fetch::Nothing => Fetched::Nothing,
        })
    }
}

impl Finish {
    /// A completion as a host reports it: the return value as JSON text and
    /// the retention as the job and its host (worker or queue) give it.
    pub fn completed(
        job_id: String,
        token: String,
        return_value: String,
        remove: Option<&serde_json::Value>,
        default_remove: Option<&serde_json::Value>,
        attempts: i64,
        fetch_next: bool,
    ) -> Self {
        Finish {
            job_id,
            token,
            outcome: Outcome::Completed(return_value),
            keep: KeepJobs::resolve(remove, default_remove),
            attempts,
            fetch_next,
            timestamp: now_ms(),
        }
    }

    /// What a run of finishes sent together shares: target, stacktrace,
    /// retention, attempts and whether to fetch next.
    fn shape(&self) -> (&'static str, &str, KeepJobs, i64, bool) {
        let (target, _, stacktrace) = self.target_value_stacktrace();
        (target, stacktrace, self.keep, self.attempts, self.fetch_next)
    }

    fn target_value_stacktrace(&self) -> (&'static str, &str, &str) {
        match &self.outcome {
            Outcome::Completed(v) => ("completed", v.as_str(), ""),
            Outcome::Failed { reason, stacktrace } => ("failed", reason.as_str(), stacktrace.as_str()),
        }
    }
}

/// Appends the worker's fetch settings (lockDuration, limiter, name).
fn fetch_settings_args(call: &mut ScriptCall, settings: &FetchSettings) {
    call.arg(settings.lock_duration)
        .arg(settings.limiter_max)
        .arg(settings.limiter_duration)
        .arg(&settings.worker_name);
}

/// A bulk reply as a string, without copying valid UTF-8.
fn into_string(v: Value) -> String {
    match v {
        Value::BulkString(bytes) => into_text(bytes),
        Value::SimpleString(s) => s,
        other => as_string(&other).unwrap_or_default(),
    }
}

/// Reads one fetch result of the batch scripts: as `parse_fetch`, with the
/// job's fields as JSON text (Lua's cjson writes an empty hash as `{}`).
fn take_fetch(v: Value) -> Result<Fetch> {
    let Value::Array(mut items) = v else {
        return Ok(Fetch::Nothing);
    };
    if items.len() < 4 {
        return Err(EngineError::other("unexpected reply from the fetch script"));
    }
    if let Value::BulkString(_) = &items[0] {
        let mut fields = into_string(std::mem::replace(&mut items[0], Value::Nil));
        if fields == "{}" {
            fields = "[]".to_string();
        }
        let id = into_string(std::mem::replace(&mut items[1], Value::Nil));
        return Ok(Fetch::Job(JobText { id, fields }));
    }
    Ok(no_job(&items).into())
}

impl Queue {
    /// Fetches up to `tokens.len()` jobs in one call, job i locked by
    /// `tokens[i]`. The results are in order: one `Fetch::Job` per job
    /// found, then, when the queue ran out first, why the next fetch found
    /// none.
    pub async fn fetch_jobs(&self, tokens: &[String], settings: &FetchSettings, timestamp: i64) -> Result<Vec<Fetch>> {
        let bytes = tokens.iter().map(|t| t.len() + 16).sum::<usize>() + settings.worker_name.len() + 64;
        let mut call = self.script_sized(&FETCH_JOBS, 6 + tokens.len(), bytes);
        call.arg(timestamp);
        fetch_settings_args(&mut call, settings);
        for token in tokens {
            call.arg(token);
        }
        match call.invoke_async::<Value>(&mut self.cmd()).await? {
            Value::Array(items) => items.into_iter().map(take_fetch).collect(),
            _ => Err(EngineError::other("unexpected reply from the fetch script")),
        }
    }

    /// Completes or finally fails several jobs in one call, each with its
    /// fetch-next when its `fetch_next` is set; `timestamp` is the time of
    /// all of them. Results in input order, each what `move_to_finished`
    /// gives for that job.
    pub async fn finish_jobs(
        &self,
        finishes: &[Finish],
        settings: &FetchSettings,
        timestamp: i64,
    ) -> Result<Vec<Result<Fetch>>> {
        if finishes.is_empty() {
            return Ok(Vec::new());
        }
        let call = self.finish_call(finishes, settings, timestamp);
        let Value::Array(items) = call.invoke_async::<Value>(&mut self.cmd()).await? else {
            return Err(EngineError::other("unexpected reply from the finish script"));
        };
        if items.len() != finishes.len() {
            return Err(EngineError::other("unexpected reply from the finish script"));
        }
        Ok(items
            .into_iter()
            .zip(finishes)
            .map(|(item, f)| match item {
                Value::Int(code) if code < 0 => {
                    Err(EngineError::from_code(code, &f.job_id, "moveToFinished", "active"))
                }
                Value::Int(_) => Ok(Fetch::Nothing),
                other => take_fetch(other),
            })
            .collect())
    }

    /// The finish script's call for `finishes` (see lua/finishJobs.lua).
    fn finish_call(&self, finishes: &[Finish], settings: &FetchSettings, timestamp: i64) -> ScriptCall {
        let mut bytes = settings.worker_name.len() + 64;
        for f in finishes {
            let (_, value, stacktrace) = f.target_value_stacktrace();
            bytes += f.job_id.len() + f.token.len() + value.len() + stacktrace.len() + 64;
        }
        let mut call = self.script_sized(&FINISH_JOBS, 7 + finishes.len() * 4, bytes);
        call.arg(timestamp);
        fetch_settings_args(&mut call, settings);
        call.arg(settings.metrics_max_data_points);
        // Runs of finishes that share all but id, token and value: what they
        // share goes once (see lua/finishJobs.lua).
        let mut rest = finishes;
        while let Some(first) = rest.first() {
            let shape = first.shape();
            let run = rest.iter().take_while(|f| f.shape() == shape).count();
            let (target, stacktrace, keep, attempts, fetch_next) = shape;
            call.arg(run)
                .arg(target)
                .arg(stacktrace)
                .arg(keep.count)
                .arg(keep.age)
                .arg(keep.limit)
                .arg(attempts)
                .arg(if fetch_next { "1" } else { "0" });
            for f in &rest[..run] {
                call.arg(&f.job_id).arg(&f.token).arg(f.target_value_stacktrace().1);
            }
            rest = &rest[run..];
        }
        call
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::queue::now_ms;
    use crate::engine::test_support::{dump, new_job, raw, test_queue};

    /// A fetch result in comparable form.
    fn summary(r: &Result<Fetched>) -> String {
        match r {
            Ok(Fetched::Job(j)) => {
                let mut fields = j.fields.clone();
                fields.sort();
                format!("job {} {:?}", j.id, fields)
            }
            Ok(Fetched::RateLimited(_)) => "rate limited".into(),
            Ok(Fetched::NextDelayed(ts)) => format!("delayed until {ts}"),
            Ok(Fetched::Nothing) => "nothing".into(),
            Err(e) => format!("error {}", e.code),
        }
    }

    fn batch_summaries(results: Vec<Result<Fetch>>) -> Vec<String> {
        results.into_iter().map(|r| summary(&r.and_then(Fetch::into_fetched))).collect()
    }

    /// Adds the same jobs to a queue: plain, lifo, prioritized, and one
    /// delayed job already due at `t`.
    async fn seed(q: &Queue, t: i64) {
        let jobs = vec![
            new_job(json!({}), t - 10),
            new_job(json!({"lifo": true}), t - 10),
            new_job(json!({"priority": 2}), t - 10),
            new_job(json!({"priority": 1}), t - 10),
            new_job(json!({"delay": 5}), t - 10),
            new_job(json!({"attempts": 2}), t - 10),
            new_job(json!({}), t - 10),
        ];
        q.add_jobs(&jobs).await.unwrap();
    }

    fn tokens(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("tok:{i}")).collect()
    }

    async fn fetch_one_by_one(q: &Queue, tokens: &[String], settings: &FetchSettings, t: i64) -> Vec<String> {
        let mut out = Vec::new();
        for token in tokens {
            let r = q.move_to_active(token, settings, t).await;
            let found = matches!(r, Ok(Fetched::Job(_)));
            out.push(summary(&r));
            if !found {
                break;
            }
        }
        out
    }

    #[tokio::test]
    async fn one_fetch_call_leaves_what_fetching_one_by_one_leaves() {
        let t = now_ms();
        let named = FetchSettings { worker_name: "w".into(), ..FetchSettings::default() };
        let limited = FetchSettings { limiter_max: 3, limiter_duration: 60_000, ..FetchSettings::default() };
        for (settings, concurrency, wanted) in [(&named, None, 10), (&limited, None, 10), (&named, Some(4), 10), (&named, None, 3)] {
            let (batched, single) = (test_queue("fetch-many").await, test_queue("fetch-one").await);
            for q in [&batched, &single] {
                seed(q, t).await;
                if let Some(n) = concurrency {
                    let _: () = redis::cmd("HSET").arg(q.keys().key("meta")).arg("concurrency").arg(n)
                        .query_async(&mut raw(q).await).await.unwrap();
                }
            }
            let got = fetch_same_as_one_by_one(&batched, &single, &tokens(wanted), settings, t).await;
            assert!(got.len() >= 3, "the case fetched several jobs: {got:?}");
        }
    }

    fn done(job_id: &str, token: &str, keep: KeepJobs, fetch_next: bool, t: i64) -> Finish {
        Finish {
            job_id: job_id.into(),
            token: token.into(),
            outcome: Outcome::Completed(format!("{{\"r\":{job_id}}}")),
            keep,
            attempts: 0,
            fetch_next,
            timestamp: t,
        }
    }

    #[tokio::test]
    async fn finishes_that_share_all_but_id_token_and_value_go_as_one_run() {
        let q = test_queue("finish-runs").await;
        let keep_all = KeepJobs::default();
        let failed = |id: &str, stack: &str| Finish {
            outcome: Outcome::Failed { reason: format!("r{id}"), stacktrace: stack.into() },
            attempts: 3,
            ..done(id, "t", keep_all, true, 5)
        };
        let finishes = vec![
            done("1", "a", keep_all, true, 5),
            done("2", "b", keep_all, true, 5),
            done("3", "c", KeepJobs { count: 0, ..keep_all }, true, 5),
            done("4", "d", keep_all, false, 5),
            failed("5", "[]"),
            failed("6", "[]"),
            failed("7", "[\"at x\"]"),
            done("8", "e", keep_all, false, 5),
        ];
        let settings = FetchSettings::default();
        let args: Vec<String> = q
            .finish_call(&finishes, &settings, 5)
            .args_after_base()
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect();
        // timestamp, the fetch settings and maxDataPoints come first.
        let runs = &args[6..];
        let mut expected: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| expected.extend(items.iter().map(|s| s.to_string()));
        push(&["2", "completed", "", "-1", "0", "1000", "0", "1", "1", "a", "{\"r\":1}", "2", "b", "{\"r\":2}"]);
        push(&["1", "completed", "", "0", "0", "1000", "0", "1", "3", "c", "{\"r\":3}"]);
        push(&["1", "completed", "", "-1", "0", "1000", "0", "0", "4", "d", "{\"r\":4}"]);
        push(&["2", "failed", "[]", "-1", "0", "1000", "3", "1", "5", "t", "r5", "6", "t", "r6"]);
        push(&["1", "failed", "[\"at x\"]", "-1", "0", "1000", "3", "1", "7", "t", "r7"]);
        push(&["1", "completed", "", "-1", "0", "1000", "0", "0", "8", "e", "{\"r\":8}"]);
        assert_eq!(runs, expected.as_slice());
    }

    #[tokio::test]
    async fn one_finish_call_leaves_what_finishing_one_by_one_leaves() {
        let t = now_ms();
        let settings = FetchSettings { worker_name: "w".into(), ..FetchSettings::default() };
        let keep_all = KeepJobs::default();
        let (batched, single) = (test_queue("finish-many").await, test_queue("finish-one").await);
        for q in [&batched, &single] {
            let mut c = raw(q).await;
            // A parent (job 1) waiting for its only child (job 2).
            q.add_jobs(&[new_job(json!({}), t - 10)]).await.unwrap();
            let _: () = redis::cmd("LREM").arg(q.keys().key("wait")).arg(0).arg("1").query_async(&mut c).await.unwrap();
            let _: () = redis::cmd("ZADD").arg(q.keys().key("waiting-children")).arg(t - 10).arg("1")
                .query_async(&mut c).await.unwrap();
            let parent = json!({"parent": {"id": "1", "queue": q.keys().qualified_name()}});
            q.add_jobs(&[new_job(parent, t - 10)]).await.unwrap();
            seed(q, t).await;
            // An old completed job, for the retention by age.
            let _: () = redis::cmd("ZADD").arg(q.keys().key("completed")).arg(t - 100_000).arg("old")
                .query_async(&mut c).await.unwrap();
            let _: () = redis::cmd("HSET").arg(q.keys().job("old")).arg("name").arg("old")
                .query_async(&mut c).await.unwrap();
            // Job 4 owns a deduplication id.
            let _: () = redis::cmd("HSET").arg(q.keys().job("4")).arg("deid").arg("d1").query_async(&mut c).await.unwrap();
            let _: () = redis::cmd("SET").arg(q.keys().key("de:d1")).arg("4").query_async(&mut c).await.unwrap();
            // Six active jobs: 4 (lifo), 2 (the child), 3, 8, 9, 7 (promoted);
            // 6 and 5 stay prioritized.
            let fetched = q.fetch_jobs(&tokens(6), &settings, t).await.unwrap();
            let ids: Vec<&str> =
                fetched.iter().filter_map(|f| if let Fetch::Job(j) = f { Some(j.id.as_str()) } else { None }).collect();
            assert_eq!(ids, ["4", "2", "3", "8", "9", "7"]);
        }
        let finishes = vec![
            // The child completes: the parent goes to the tail of wait, and
            // this finish's fetch-next takes it (before the prioritized jobs).
            done("2", "tok:1", keep_all, true, t),
            // Removed on completion, releasing its deduplication id.
            done("4", "tok:0", KeepJobs { count: 0, ..keep_all }, true, t),
            done("3", "wrong", keep_all, true, t),
            Finish {
                outcome: Outcome::Failed { reason: "boom".into(), stacktrace: "[\"Error: boom\"]".into() },
                attempts: 1,
                ..done("3", "tok:2", keep_all, false, t)
            },
            done("8", "tok:3", KeepJobs { count: 2, ..keep_all }, true, t),
            done("9", "tok:4", KeepJobs { age: 60, ..keep_all }, true, t),
            done("7", "tok:5", keep_all, true, t),
        ];
        let got = batch_summaries(batched.finish_jobs(&finishes, &settings, t).await.unwrap());
        let mut expected = Vec::new();
        for f in &finishes {
            expected.push(summary(&single.move_to_finished(f, &settings).await));
        }
        assert_eq!(got, expected);
        assert!(got[0].starts_with("job 1 "), "the released parent came next: {got:?}");
        assert_eq!(got[2], "error -6");
        assert_eq!(dump(&batched).await, dump(&single).await);

        // The rest, with fetch-next into an empty queue: the last finish
        // reports drained.
        let active: Vec<String> =
            redis::cmd("LRANGE").arg(single.keys().key("active")).arg(0).arg(-1).query_async(&mut raw(&single).await).await.unwrap();
        let mut rest = Vec::new();
        for id in active.iter().rev() {
            let token: String =
                redis::cmd("GET").arg(single.keys().lock(id)).query_async(&mut raw(&single).await).await.unwrap();
            rest.push(done(id, &token, keep_all, true, t));
        }
        let got = batch_summaries(batched.finish_jobs(&rest, &settings, t).await.unwrap());
        let mut expected = Vec::new();
        for f in &rest {
            expected.push(summary(&single.move_to_finished(f, &settings).await));
        }
        assert_eq!(got, expected);
        let dumped = dump(&batched).await;
        assert_eq!(dumped, dump(&single).await);
        let events = &dumped.iter().find(|(k, _)| k.ends_with(":events")).unwrap().1;
        assert_eq!(events.last().unwrap(), "event drained");
    }

    /// Sets the key `key` of the queue's Redis with a raw command.
    async fn redis_cmd(q: &Queue, args: &[&str]) {
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        let _: redis::Value = cmd.query_async(&mut raw(q).await).await.unwrap();
    }

    #[tokio::test]
    async fn fetching_many_jobs_in_one_call_is_one_fetch_per_token() {
        // The jobs, their fields and what Redis holds are those of one fetch
        // per token: across wait and prioritized, running dry, and with a
        // limiter stopping mid-batch.
        let t = now_ms();
        let named = FetchSettings { worker_name: "w".into(), ..FetchSettings::default() };
        let limited = FetchSettings { limiter_max: 9, limiter_duration: 60_000, ..FetchSettings::default() };
        for settings in [&named, &limited] {
            let (batched, single) = (test_queue("fetch-wide").await, test_queue("fetch-wide-one").await);
            for q in [&batched, &single] {
                seed(q, t).await;
                seed(q, t).await;
            }
            let got = fetch_same_as_one_by_one(&batched, &single, &tokens(20), settings, t).await;
            let jobs = got.iter().filter(|g| g.starts_with("job ")).count();
            assert_eq!(jobs, if settings.limiter_max > 0 { 9 } else { 14 }, "{got:?}");
            assert!(got.iter().any(|g| g.contains("\"processedOn\"")), "fields as after the fetch: {got:?}");
        }
    }

    /// Fetches with `tokens` in one call on `batched` and one token at a
    /// time on `single`; both must give the same results and leave the same
    /// keys.
    async fn fetch_same_as_one_by_one(
        batched: &Queue,
        single: &Queue,
        tokens: &[String],
        settings: &FetchSettings,
        t: i64,
    ) -> Vec<String> {
        let got: Vec<String> = batched
            .fetch_jobs(tokens, settings, t)
            .await
            .unwrap()
            .into_iter()
            .map(|r| summary(&r.into_fetched()))
            .collect();
        assert_eq!(got, fetch_one_by_one(single, tokens, settings, t).await);
        assert_eq!(dump(batched).await, dump(single).await);
        got
    }

    /// Finishes `finishes` in one call on `batched` and one by one on
    /// `single`; both must give the same results and leave the same keys.
    async fn same_as_one_by_one(batched: &Queue, single: &Queue, finishes: &[Finish], settings: &FetchSettings, t: i64) -> Vec<String> {
        let got = batch_summaries(batched.finish_jobs(finishes, settings, t).await.unwrap());
        let mut expected = Vec::new();
        for f in finishes {
            expected.push(summary(&single.move_to_finished(f, settings).await));
        }
        assert_eq!(got, expected);
        assert_eq!(dump(batched).await, dump(single).await);
        got
    }

    #[tokio::test]
    async fn finish_batch_checks_read_up_front_give_way_to_what_the_batch_changed() {
        let t = now_ms();
        let settings = FetchSettings::default();
        let keep_all = KeepJobs::default();
        let (batched, single) = (test_queue("finish-checks").await, test_queue("finish-checks-one").await);
        for q in [&batched, &single] {
            for _ in 0..6 {
                q.add_jobs(&[new_job(json!({}), t - 10)]).await.unwrap();
            }
            // Jobs 1..4 active, 5 and 6 waiting (5 is fetched next).
            let fetched = q.fetch_jobs(&tokens(4), &settings, t).await.unwrap();
            assert_eq!(fetched.len(), 4);
            // Job 1 is also (wrongly) at the tail of wait: the fetch-next
            // of its own finish takes it again and locks it after the lock
            // deletion the batch deferred.
            redis_cmd(q, &["RPUSH", &q.keys().key("wait"), "1"]).await;
            // Job 3's lock expired; job 4 has a pending child.
            redis_cmd(q, &["DEL", &q.keys().lock("3")]).await;
        }
        let finishes = vec![
            done("1", "tok:0", keep_all, true, t),
            // Job 1 again, now locked by the fetch-next above with tok:0.
            done("1", "tok:0", keep_all, false, t),
            done("3", "tok:2", keep_all, true, t),
            // Job 5 is waiting, not active: the fetch-next of job 2 takes it
            // with tok:1, after which this finish of it succeeds.
            done("2", "tok:1", keep_all, true, t),
            done("5", "tok:1", keep_all, false, t),
            // Finished twice: the second finds no lock.
            done("4", "tok:3", keep_all, false, t),
            done("4", "tok:3", keep_all, false, t),
        ];
        let got = same_as_one_by_one(&batched, &single, &finishes, &settings, t).await;
        assert!(got[0].starts_with("job 1 "), "{got:?}");
        assert_eq!(got[1], "nothing");
        assert_eq!(got[2], "error -2");
        assert!(got[3].starts_with("job 5 "), "{got:?}");
        assert_eq!(&got[4..], ["nothing", "nothing", "error -2"]);

        // A job with a pending child sends every completion of the batch
        // through the per-job checks; a failure with a stacktrace does not.
        for q in [&batched, &single] {
            q.add_jobs(&[new_job(json!({}), t - 10), new_job(json!({}), t - 10)]).await.unwrap();
            let fetched = q.fetch_jobs(&tokens(3), &settings, t).await.unwrap();
            assert_eq!(fetched.len(), 3);
            redis_cmd(q, &["SADD", &format!("{}:dependencies", q.keys().job("7")), "some-child"]).await;
        }
        let active: Vec<String> = redis::cmd("LRANGE")
            .arg(single.keys().key("active"))
            .arg(0)
            .arg(-1)
            .query_async(&mut raw(&single).await)
            .await
            .unwrap();
        let mut finishes = Vec::new();
        for id in active.iter().rev() {
            // Job 3 lost its lock above and is still active.
            let token: Option<String> =
                redis::cmd("GET").arg(single.keys().lock(id)).query_async(&mut raw(&single).await).await.unwrap();
            finishes.push(done(id, token.as_deref().unwrap_or("lost"), keep_all, false, t));
        }
        let last = finishes.len() - 1;
        finishes[last].outcome = Outcome::Failed { reason: "boom".into(), stacktrace: "[\"Error: boom\"]".into() };
        let got = same_as_one_by_one(&batched, &single, &finishes, &settings, t).await;
        assert!(got.iter().any(|g| g == "error -4"), "{got:?}");
        assert!(got.iter().filter(|g| *g == "nothing").count() >= 2, "{got:?}");
    }

    #[tokio::test]
    async fn finishing_many_with_fetch_next_in_one_call_is_one_finish_per_job() {
        let t = now_ms();
        let settings = FetchSettings { worker_name: "w".into(), ..FetchSettings::default() };
        let keep_all = KeepJobs::default();
        let n = 18;
        let (batched, single) = (test_queue("finish-wide").await, test_queue("finish-wide-one").await);
        for q in [&batched, &single] {
            for _ in 0..(2 * n - 4) {
                q.add_jobs(&[new_job(json!({"attempts": 3}), t - 10)]).await.unwrap();
            }
            let fetched = q.fetch_jobs(&tokens(n), &settings, t).await.unwrap();
            assert_eq!(fetched.len(), n);
        }
        let finishes: Vec<Finish> =
            (1..=n).map(|i| done(&i.to_string(), &format!("tok:{}", i - 1), keep_all, true, t)).collect();
        let got = same_as_one_by_one(&batched, &single, &finishes, &settings, t).await;
        // The queue ran dry before the last fetch-nexts.
        assert_eq!(got.iter().filter(|g| g.starts_with("job ")).count(), n - 4, "{got:?}");
        assert!(got.iter().all(|g| !g.starts_with("job ") || g.contains("\"pb\", \"w\"")), "{got:?}");
    }
}
