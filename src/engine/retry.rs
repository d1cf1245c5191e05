//! Failing an attempt of an active job: the retry decision, the immediate
//! retry (retryJob), the retry after a backoff and the manual delay
//! (moveToDelayed), and the final failure (moveToFinished). The manual API
//! and the automatic worker both fail jobs through `Queue::move_to_failed`.

use serde_json::{Map, Value};

use super::active::{FetchSettings, Finish, KeepJobs, Outcome};
use super::backoff::{Backoff, Strategy};
use super::error::{EngineError, Result};
#[cfg(test)]
use super::job::RawJob;
use super::queue::Queue;
use super::reply::{parse_fetch, Fetched};

crate::lua_script!(
    /// Retries a failed attempt at once.
    RETRY_JOB => ["includes/common.lua", "retryJob.lua"]
);
crate::lua_script!(
    /// Moves an active job to delayed (backoff retry or manual delay).
    MOVE_TO_DELAYED => ["includes/common.lua", "includes/fetch.lua", "moveToDelayed.lua"]
);

impl KeepJobs {
    /// BullMQ's resolution of a job's `removeOnComplete` / `removeOnFail`
    /// option: `true` removes, `false` keeps all, a number keeps that many, an
    /// object is taken as is; absent means the worker's default.
    pub fn from_option(value: Option<&Value>, default: KeepJobs) -> KeepJobs {
        match value {
            None | Some(Value::Null) => default,
            Some(Value::Bool(true)) => KeepJobs { count: 0, ..KeepJobs::default() },
            Some(Value::Number(n)) => {
                KeepJobs { count: n.as_f64().map(|f| f as i64).unwrap_or(-1), ..KeepJobs::default() }
            }
            Some(Value::Object(o)) => {
                let int = |key: &str| o.get(key).and_then(Value::as_f64).map(|f| f as i64);
                let base = KeepJobs::default();
                KeepJobs {
                    count: int("count").unwrap_or(base.count),
                    age: int("age").unwrap_or(base.age),
                    limit: int("limit").unwrap_or(base.limit),
                }
            }
            Some(_) => KeepJobs::default(),
        }
    }

    /// The retention of a finishing job: its own `removeOnComplete` /
    /// `removeOnFail` (`job`), else its host's (the worker's or queue's
    /// option, `host`), else keep all. Null counts as absent.
    pub fn resolve(job: Option<&Value>, host: Option<&Value>) -> KeepJobs {
        KeepJobs::from_option(job, KeepJobs::from_option(host, KeepJobs::default()))
    }
}

/// BullMQ 6.7's `maxStartedAttempts`: a job started that often (the worker's
/// option, 0 or absent for no bound) is not retried, whatever attempts it
/// has left.
pub fn started_too_often(attempts_started: f64, max_started_attempts: Option<f64>) -> bool {
    max_started_attempts.is_some_and(|max| max != 0.0 && !max.is_nan() && max <= attempts_started)
}

/// Whether a failed attempt may be retried at all: attempts are left and
/// the error is not unrecoverable (the backoff may still refuse).
fn may_retry(attempts_made: i64, policy: &FailurePolicy, unrecoverable: bool) -> bool {
    !unrecoverable && attempts_made.saturating_add(1) < policy.attempts
}

/// What a job's options say about failures.
#[derive(Debug, Clone)]
pub struct FailurePolicy {
    /// Total attempts (`opts.attempts`, default 0: no retry).
    pub attempts: i64,
    pub backoff: Option<Backoff>,
    /// An immediate retry runs next instead of at the end of the line.
    pub lifo: bool,
    /// Stack traces kept (`opts.stackTraceLimit`; 0 keeps none).
    pub stack_trace_limit: Option<i64>,
    /// Retention of the job once it failed for good.
    pub keep: KeepJobs,
}

impl FailurePolicy {
    /// Reads a job's options, public or stored (the fields read here have the
    /// same name in both), with the worker's `removeOnFail` as default.
    pub fn from_opts(opts: &Map<String, Value>, default_keep: KeepJobs) -> Result<Self> {
        let int = |key: &str| opts.get(key).and_then(Value::as_f64).map(|f| f as i64);
        Ok(Self {
            attempts: int("attempts").unwrap_or(0),
            backoff: Backoff::from_option(opts.get("backoff"))?,
            lifo: opts.get("lifo").and_then(Value::as_bool).unwrap_or(false),
            stack_trace_limit: int("stackTraceLimit"),
            keep: KeepJobs::from_option(opts.get("removeOnFail"), default_keep),
        })
    }
}

/// Adds the stack of a failed attempt, keeping the newest `limit` entries
/// (none when `limit` is 0). Without a stack the list is left as it is.
pub fn push_stacktrace(stacktrace: &mut Vec<String>, stack: Option<&str>, limit: Option<i64>) {
    let Some(stack) = stack.filter(|s| !s.is_empty()) else {
        return;
    };
    stacktrace.push(stack.to_string());
    match limit {
        Some(0) => stacktrace.clear(),
        Some(n) if n > 0 && stacktrace.len() > n as usize => {
            stacktrace.drain(..stacktrace.len() - n as usize);
        }
        _ => {}
    }
}

/// What happens to a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// The job fails for good.
    Fail,
    /// Back to wait at once.
    RetryNow,
    /// To delayed for this many milliseconds.
    RetryAfter(i64),
}

/// BullMQ's retry rule: retry while `attemptsMade + 1 < attempts` and the
/// error is not unrecoverable, after the backoff's delay. `custom_delay` is
/// the result of the user's backoff strategy for a custom backoff type; a
/// delay of -1 means "do not retry".
pub fn decide_retry(
    attempts_made: i64,
    policy: &FailurePolicy,
    unrecoverable: bool,
    custom_delay: Option<i64>,
    random: f64,
) -> Result<RetryDecision> {
    if !may_retry(attempts_made, policy, unrecoverable) {
        return Ok(RetryDecision::Fail);
    }
    let attempt = attempts_made.saturating_add(1);
    let delay = match &policy.backoff {
        None => 0,
        Some(backoff) => match (&backoff.strategy, custom_delay) {
            (Strategy::Custom(_), Some(d)) => d,
            (Strategy::Custom(name), None) => {
                return Err(EngineError::other(format!(
                    "Unknown backoff strategy {name}.\n      If a custom backoff strategy is used, specify it when the queue is created."
                )))
            }
            _ => backoff.delay_for(attempt, random).unwrap_or(0),
        },
    };
    Ok(match delay {
        -1 => RetryDecision::Fail,
        d if d > 0 => RetryDecision::RetryAfter(d),
        _ => RetryDecision::RetryNow,
    })
}

/// A failed attempt of an active job held by `token`.
#[derive(Debug, Clone)]
pub struct FailedAttempt {
    pub job_id: String,
    pub token: String,
    /// The error message, stored raw as `failedReason`.
    pub reason: String,
    /// The error's stack, added to the job's stack traces.
    pub stack: Option<String>,
    /// The job's stack traces so far.
    pub stacktrace: Vec<String>,
    /// Attempts made before this one.
    pub attempts_made: i64,
    /// `UnrecoverableError`: no retry whatever the attempts left.
    pub unrecoverable: bool,
    /// The delay a custom backoff strategy gave (JavaScript computes it).
    pub custom_delay: Option<i64>,
    pub policy: FailurePolicy,
    pub fetch_next: bool,
    pub timestamp: i64,
}

impl FailedAttempt {
    /// The name of the custom backoff strategy (user code, run by the
    /// caller) whose delay this attempt needs before it can be decided: set
    /// when the attempt will be retried, its backoff is not built in and no
    /// `custom_delay` was given yet.
    pub fn custom_backoff(&self) -> Option<&str> {
        if self.custom_delay.is_some() || !may_retry(self.attempts_made, &self.policy, self.unrecoverable) {
            return None;
        }
        match &self.policy.backoff {
            Some(Backoff { strategy: Strategy::Custom(name), .. }) => Some(name),
            _ => None,
        }
    }

    /// The retry decision for this attempt (`decide_retry`).
    pub fn decide(&self, random: f64) -> Result<RetryDecision> {
        decide_retry(self.attempts_made, &self.policy, self.unrecoverable, self.custom_delay, random)
    }

    /// An unrecoverable failure of a job as read from Redis, with its stored
    /// options (what the tests build their attempts from).
    #[cfg(test)]
    pub fn of_job(
        job: &RawJob,
        token: &str,
        reason: &str,
        default_keep: KeepJobs,
        timestamp: i64,
    ) -> Result<Self> {
        let opts = match job.get("opts").map(serde_json::from_str::<Value>) {
            Some(Ok(Value::Object(map))) => map,
            _ => Map::new(),
        };
        let stacktrace = job
            .get("stacktrace")
            .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
            .unwrap_or_default();
        let attempts_made = job
            .get("attemptsMade")
            .or_else(|| job.get("atm"))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(Self {
            job_id: job.id.clone(),
            token: token.to_string(),
            reason: reason.to_string(),
            stack: Some(format!("UnrecoverableError: {reason}")),
            stacktrace,
            attempts_made,
            unrecoverable: true,
            custom_delay: None,
            policy: FailurePolicy::from_opts(&opts, default_keep)?,
            fetch_next: false,
            timestamp,
        })
    }
}

/// Where a failed attempt left the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedTo {
    /// Retry after this many milliseconds.
    Delayed(i64),
    /// Immediate retry.
    Waiting,
    /// Failed for good.
    Failed,
}

#[derive(Debug, Clone)]
pub struct FailResult {
    pub moved: FailedTo,
    /// The stack traces now stored.
    pub stacktrace: Vec<String>,
    /// The next job when fetch-next found one (or why there was none).
    pub fetched: Fetched,
}

/// A move of an active job to delayed.
#[derive(Debug, Clone)]
pub struct Delay {
    pub job_id: String,
    pub token: String,
    pub timestamp: i64,
    /// Milliseconds after `timestamp`.
    pub delay: i64,
    /// The manual move does not count an attempt; a backoff retry does.
    pub skip_attempt: bool,
    /// `failedReason` and stacktrace JSON to store (backoff retry).
    pub failure: Option<(String, String)>,
    pub fetch_next: bool,
}

impl Delay {
    /// `job.moveToDelayed(timestamp, token)`: due at `due` (now when past).
    pub fn manual(job_id: &str, token: &str, due: i64, now: i64) -> Self {
        Self {
            job_id: job_id.to_string(),
            token: token.to_string(),
            timestamp: now,
            delay: due.saturating_sub(now).max(0),
            skip_attempt: true,
            failure: None,
            fetch_next: false,
        }
    }
}

fn check_code(reply: &redis::Value, job_id: &str, command: &str) -> Result<()> {
    if let redis::Value::Int(code) = reply {
        if *code < 0 {
            return Err(EngineError::from_code(*code, job_id, command, "active"));
        }
    }
    Ok(())
}

impl Queue {
    /// Fails an attempt: retries it (now or after the backoff) when attempts
    /// are left, otherwise moves it to failed. Events follow BullMQ: a retried
    /// attempt emits `waiting` or `delayed`, never `failed`.
    pub async fn move_to_failed(&self, attempt: &FailedAttempt, settings: &FetchSettings) -> Result<FailResult> {
        let decision = attempt.decide(rand::random::<f64>())?;
        let mut stacktrace = attempt.stacktrace.clone();
        push_stacktrace(&mut stacktrace, attempt.stack.as_deref(), attempt.policy.stack_trace_limit);
        let stack_json = serde_json::to_string(&stacktrace)?;
        let (moved, fetched) = match decision {
            RetryDecision::RetryNow => {
                let failure = (attempt.reason.as_str(), stack_json.as_str());
                self.retry_job(&attempt.job_id, &attempt.token, attempt.policy.lifo, Some(failure), attempt.timestamp)
                    .await?;
                (FailedTo::Waiting, Fetched::Nothing)
            }
            RetryDecision::RetryAfter(delay) => {
                let d = Delay {
                    job_id: attempt.job_id.clone(),
                    token: attempt.token.clone(),
                    timestamp: attempt.timestamp,
                    delay,
                    skip_attempt: false,
                    failure: Some((attempt.reason.clone(), stack_json)),
                    fetch_next: attempt.fetch_next,
                };
                (FailedTo::Delayed(delay), self.move_to_delayed(&d, settings).await?)
            }
            RetryDecision::Fail => {
                let finish = Finish {
                    job_id: attempt.job_id.clone(),
                    token: attempt.token.clone(),
                    outcome: Outcome::Failed { reason: attempt.reason.clone(), stacktrace: stack_json },
                    keep: attempt.policy.keep,
                    attempts: attempt.policy.attempts,
                    fetch_next: attempt.fetch_next,
                    timestamp: attempt.timestamp,
                };
                (FailedTo::Failed, self.move_to_finished(&finish, settings).await?)
            }
        };
        Ok(FailResult { moved, stacktrace, fetched })
    }

    /// Puts an active job back to wait at once, counting the attempt
    /// (BullMQ's retryJob). `failure` = (failedReason, stacktrace JSON).
    pub async fn retry_job(
        &self,
        job_id: &str,
        token: &str,
        lifo: bool,
        failure: Option<(&str, &str)>,
        timestamp: i64,
    ) -> Result<()> {
        let (reason, stack) = failure.unwrap_or(("", ""));
        let mut inv = self.script(&RETRY_JOB);
        inv.arg(job_id)
            .arg(timestamp)
            .arg(token)
            .arg(if lifo { "RPUSH" } else { "LPUSH" })
            .arg(reason)
            .arg(stack)
            .arg(if failure.is_some() { "1" } else { "0" });
        let reply: redis::Value = inv.invoke_async(&mut self.cmd()).await?;
        check_code(&reply, job_id, "retryJob")
    }

    /// Moves an active job to delayed; with `fetch_next` returns the next job
    /// when there is one.
    pub async fn move_to_delayed(&self, d: &Delay, settings: &FetchSettings) -> Result<Fetched> {
        let (reason, stack) = d.failure.as_ref().map(|(r, s)| (r.as_str(), s.as_str())).unwrap_or(("", ""));
        let mut inv = self.script(&MOVE_TO_DELAYED);
        inv.arg(&d.job_id)
            .arg(d.timestamp)
            .arg(&d.token)
            .arg(d.delay)
            .arg(if d.skip_attempt { "1" } else { "0" })
            .arg(reason)
            .arg(stack)
            .arg(if d.failure.is_some() { "1" } else { "0" })
            .arg(if d.fetch_next { "1" } else { "0" })
            .arg(settings.lock_duration)
            .arg(settings.limiter_max)
            .arg(settings.limiter_duration)
            .arg(&settings.worker_name);
        let reply: redis::Value = inv.invoke_async(&mut self.cmd()).await?;
        check_code(&reply, &d.job_id, "moveToDelayed")?;
        parse_fetch(&reply)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::queue::now_ms;
    use crate::engine::test_support::{new_job, raw, stream_entries, test_queue};

    fn policy(opts: Value) -> FailurePolicy {
        FailurePolicy::from_opts(opts.as_object().unwrap(), KeepJobs::default()).unwrap()
    }

    #[test]
    fn retries_while_attempts_are_left_and_the_error_is_recoverable() {
        let p = policy(json!({"attempts": 3}));
        assert_eq!(decide_retry(0, &p, false, None, 0.5).unwrap(), RetryDecision::RetryNow);
        assert_eq!(decide_retry(1, &p, false, None, 0.5).unwrap(), RetryDecision::RetryNow);
        assert_eq!(decide_retry(2, &p, false, None, 0.5).unwrap(), RetryDecision::Fail);
        assert_eq!(decide_retry(0, &p, true, None, 0.5).unwrap(), RetryDecision::Fail);
        assert_eq!(decide_retry(0, &policy(json!({})), false, None, 0.5).unwrap(), RetryDecision::Fail);
    }

    #[test]
    fn the_backoff_of_the_next_attempt_gives_the_delay() {
        let p = policy(json!({"attempts": 5, "backoff": {"type": "exponential", "delay": 100}}));
        assert_eq!(decide_retry(0, &p, false, None, 0.5).unwrap(), RetryDecision::RetryAfter(100));
        assert_eq!(decide_retry(2, &p, false, None, 0.5).unwrap(), RetryDecision::RetryAfter(400));
        let custom = policy(json!({"attempts": 5, "backoff": {"type": "mine"}}));
        assert_eq!(decide_retry(0, &custom, false, Some(70), 0.5).unwrap(), RetryDecision::RetryAfter(70));
        assert_eq!(decide_retry(0, &custom, false, Some(-1), 0.5).unwrap(), RetryDecision::Fail);
        assert_eq!(decide_retry(0, &custom, false, Some(0), 0.5).unwrap(), RetryDecision::RetryNow);
        let err = decide_retry(0, &custom, false, None, 0.5).unwrap_err();
        assert!(err.message.starts_with("Unknown backoff strategy mine."));
    }

    #[test]
    fn stack_traces_accumulate_up_to_the_limit() {
        let mut st = vec!["a".to_string(), "b".to_string()];
        push_stacktrace(&mut st, Some("c"), Some(2));
        assert_eq!(st, vec!["b", "c"]);
        push_stacktrace(&mut st, None, Some(0));
        assert_eq!(st, vec!["b", "c"]);
        push_stacktrace(&mut st, Some("d"), None);
        assert_eq!(st, vec!["b", "c", "d"]);
        push_stacktrace(&mut st, Some("e"), Some(0));
        assert!(st.is_empty());
    }

    #[test]
    fn keep_jobs_follow_the_job_option_then_the_default() {
        let default = KeepJobs { count: 5, age: 0, limit: 1000 };
        assert_eq!(KeepJobs::from_option(None, default).count, 5);
        assert_eq!(KeepJobs::from_option(Some(&json!(true)), default).count, 0);
        assert_eq!(KeepJobs::from_option(Some(&json!(false)), default).count, -1);
        assert_eq!(KeepJobs::from_option(Some(&json!(3)), default).count, 3);
        let obj = KeepJobs::from_option(Some(&json!({"age": 60})), default);
        assert_eq!((obj.count, obj.age, obj.limit), (-1, 60, 1000));
        let host = json!({"count": 7, "age": 9});
        let resolved = |job: Option<Value>, host: Option<&Value>| {
            let k = KeepJobs::resolve(job.as_ref(), host);
            (k.count, k.age, k.limit)
        };
        assert_eq!(resolved(None, None), (-1, 0, 1000));
        assert_eq!(resolved(None, Some(&host)), (7, 9, 1000));
        assert_eq!(resolved(Some(json!(null)), Some(&host)), (7, 9, 1000));
        assert_eq!(resolved(Some(json!(false)), Some(&host)), (-1, 0, 1000));
        assert_eq!(resolved(None, Some(&json!(true))), (0, 0, 1000));
    }

    #[test]
    fn max_started_attempts_bounds_retries_and_custom_backoffs_are_asked_only_for_retries() {
        assert!(!started_too_often(5.0, None));
        assert!(!started_too_often(5.0, Some(0.0)));
        assert!(!started_too_often(2.0, Some(3.0)));
        assert!(started_too_often(3.0, Some(3.0)));
        let job = RawJob { id: "1".into(), fields: vec![("opts".into(), r#"{"attempts":3,"backoff":{"type":"mine"}}"#.into())] };
        let mut a = FailedAttempt::of_job(&job, "tok", "boom", KeepJobs::default(), 0).unwrap();
        assert_eq!(a.custom_backoff(), None, "unrecoverable: no retry");
        a.unrecoverable = false;
        assert_eq!(a.custom_backoff(), Some("mine"));
        a.attempts_made = 2;
        assert_eq!(a.custom_backoff(), None, "last attempt: no retry");
        a.attempts_made = 0;
        a.custom_delay = Some(10);
        assert_eq!(a.custom_backoff(), None, "the delay is known");
        assert_eq!(a.decide(0.5).unwrap(), RetryDecision::RetryAfter(10));
    }

    async fn active_job(q: &Queue, opts: Value) -> RawJob {
        q.add_jobs(&[new_job(opts, now_ms())]).await.unwrap();
        match q.move_to_active("tok", &FetchSettings::default(), now_ms()).await.unwrap() {
            Fetched::Job(j) => j,
            other => panic!("expected a job, got {other:?}"),
        }
    }

    fn attempt(job: &RawJob, reason: &str) -> FailedAttempt {
        let mut a = FailedAttempt::of_job(job, "tok", reason, KeepJobs::default(), now_ms()).unwrap();
        a.unrecoverable = false;
        a.stack = Some(format!("Error: {reason}"));
        a
    }

    #[tokio::test]
    async fn a_backoff_retry_scores_the_job_at_its_due_time_and_counts_the_attempt() {
        let q = test_queue("backoff").await;
        let job = active_job(&q, json!({"attempts": 3, "backoff": 5000})).await;
        let a = attempt(&job, "boom");
        let res = q.move_to_failed(&a, &FetchSettings::default()).await.unwrap();
        assert_eq!(res.moved, FailedTo::Delayed(5000));
        let mut c = raw(&q).await;
        let score: f64 = redis::cmd("ZSCORE")
            .arg(q.keys().key("delayed"))
            .arg(&job.id)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(score, ((a.timestamp + 5000) * 4096) as f64);
        let (atm, delay, reason, st): (String, String, String, String) = redis::cmd("HMGET")
            .arg(q.keys().job(&job.id))
            .arg(&["atm", "delay", "failedReason", "stacktrace"])
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!((atm.as_str(), delay.as_str(), reason.as_str()), ("1", "5000", "boom"));
        assert_eq!(st, r#"["Error: boom"]"#);
        let evs = stream_entries(&q).await;
        let last = evs.last().unwrap();
        assert_eq!(last[..4], ["event", "delayed", "jobId", job.id.as_str()]);
        assert_eq!(last[5], (a.timestamp + 5000).to_string());
        assert!(!evs.iter().any(|e| e[1] == "failed"), "a retried attempt emits no failed event");
        let marker: Option<f64> = redis::cmd("ZSCORE")
            .arg(q.keys().key("marker"))
            .arg("1")
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(marker, Some((a.timestamp + 5000) as f64));
    }

    #[tokio::test]
    async fn an_immediate_retry_pushes_to_wait_and_the_last_attempt_fails() {
        let q = test_queue("retry").await;
        let job = active_job(&q, json!({"attempts": 2})).await;
        let res = q.move_to_failed(&attempt(&job, "first"), &FetchSettings::default()).await.unwrap();
        assert_eq!(res.moved, FailedTo::Waiting);
        let mut c = raw(&q).await;
        let wait: Vec<String> = redis::cmd("LRANGE").arg(q.keys().key("wait")).arg(0).arg(-1).query_async(&mut c).await.unwrap();
        assert_eq!(wait, vec![job.id.clone()]);
        let evs = stream_entries(&q).await;
        assert_eq!(evs.last().unwrap(), &["event", "waiting", "jobId", job.id.as_str(), "prev", "active"]);

        let again = match q.move_to_active("tok", &FetchSettings::default(), now_ms()).await.unwrap() {
            Fetched::Job(j) => j,
            other => panic!("expected the retried job, got {other:?}"),
        };
        assert_eq!(again.get("atm"), Some("1"));
        let res = q.move_to_failed(&attempt(&again, "second"), &FetchSettings::default()).await.unwrap();
        assert_eq!(res.moved, FailedTo::Failed);
        assert_eq!(res.stacktrace, vec!["Error: first", "Error: second"]);
        let failed: Vec<String> = redis::cmd("ZRANGE").arg(q.keys().key("failed")).arg(0).arg(-1).query_async(&mut c).await.unwrap();
        assert_eq!(failed, vec![job.id.clone()]);
        let evs = stream_entries(&q).await;
        let names: Vec<&str> = evs.iter().map(|e| e[1].as_str()).collect();
        assert_eq!(names.iter().filter(|n| **n == "failed").count(), 1);
        let exhausted = evs.iter().find(|e| e[1] == "retries-exhausted").unwrap();
        assert_eq!(exhausted[5], "2");
    }

    #[tokio::test]
    async fn retry_errors_carry_bullmq_messages() {
        let q = test_queue("retry-errors").await;
        let job = active_job(&q, json!({"attempts": 3})).await;
        let err = q.retry_job(&job.id, "other", false, None, now_ms()).await.unwrap_err();
        assert_eq!(err.message, format!("Lock mismatch for job {}. Cmd retryJob from active", job.id));
        let err = q.retry_job("nope", "tok", false, None, now_ms()).await.unwrap_err();
        assert_eq!(err.message, "Missing key for job nope. retryJob");
        let d = Delay::manual(&job.id, "other", now_ms() + 100, now_ms());
        let err = q.move_to_delayed(&d, &FetchSettings::default()).await.unwrap_err();
        assert_eq!(err.code, -6);
    }

    #[tokio::test]
    async fn a_manual_delay_skips_the_attempt() {
        let q = test_queue("manual-delay").await;
        let job = active_job(&q, json!({})).await;
        let now = now_ms();
        let d = Delay::manual(&job.id, "tok", now + 2000, now);
        assert!(matches!(q.move_to_delayed(&d, &FetchSettings::default()).await.unwrap(), Fetched::Nothing));
        let mut c = raw(&q).await;
        let (atm, delay): (Option<String>, String) = redis::cmd("HMGET")
            .arg(q.keys().job(&job.id))
            .arg(&["atm", "delay"])
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!((atm, delay.as_str()), (None, "2000"));
        let lock: i64 = redis::cmd("EXISTS").arg(q.keys().lock(&job.id)).query_async(&mut c).await.unwrap();
        assert_eq!(lock, 0);
    }
}
