//! Operations on one job by id that need no worker lock: progress, data,
//! logs, state, promote, delay and priority changes, removal, and sending a
//! finished job back to wait (`job.retry`).

use super::error::{EngineError, Result};
use super::keys::is_reserved_job_id;
use super::queue::Queue;

crate::lua_script!(
    /// Stores a job's progress and emits `progress`.
    UPDATE_PROGRESS => ["includes/common.lua", "updateProgress.lua"]
);
crate::lua_script!(
    /// Replaces a job's data.
    UPDATE_DATA => ["includes/common.lua", "updateData.lua"]
);
crate::lua_script!(
    /// Appends a log line, trimming to keepLogs.
    ADD_LOG => ["includes/common.lua", "addLog.lua"]
);
crate::lua_script!(
    /// Moves a delayed job to wait / prioritized.
    PROMOTE => ["includes/common.lua", "promote.lua"]
);
crate::lua_script!(
    /// Re-scores a delayed job from now.
    CHANGE_DELAY => ["includes/common.lua", "changeDelay.lua"]
);
crate::lua_script!(
    /// Sets a job's priority, re-queueing it when runnable.
    CHANGE_PRIORITY => ["includes/common.lua", "changePriority.lua"]
);
crate::lua_script!(
    /// Removes a job (and optionally its children) unless locked.
    REMOVE_JOB => ["includes/common.lua", "removeJob.lua"]
);
crate::lua_script!(
    /// Moves a completed / failed job back to wait.
    REPROCESS_JOB => ["includes/common.lua", "reprocessJob.lua"]
);
crate::lua_script!(
    /// A job's state in BullMQ's lookup order.
    GET_STATE => ["includes/common.lua", "getState.lua"]
);

/// Highest priority BullMQ accepts (2^21 - 1).
pub const PRIORITY_LIMIT: i64 = 2_097_151;

/// The finished set a job is sent back from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishedState {
    Completed,
    Failed,
}

impl FinishedState {
    pub fn parse(state: &str) -> Result<Self> {
        match state {
            "completed" => Ok(Self::Completed),
            "failed" => Ok(Self::Failed),
            other => Err(EngineError::invalid(format!(
                "state must be \"completed\" or \"failed\", got \"{other}\""
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// What `job.retry(state, opts)` asks for.
#[derive(Debug, Clone, Copy)]
pub struct Reprocess {
    pub state: FinishedState,
    /// The job's `opts.lifo`: it runs next instead of joining the end of wait.
    pub lifo: bool,
    pub reset_attempts_made: bool,
    pub reset_attempts_started: bool,
}

/// Refuses an empty id; an id that names one of the queue's own keys is no
/// job's, so `command` fails on it as on a missing job (code -1).
fn check_id(id: &str, command: &str) -> Result<()> {
    if id.is_empty() {
        return Err(EngineError::invalid("job id must be a non-empty string"));
    }
    if is_reserved_job_id(id) {
        return Err(EngineError::from_code(-1, id, command, ""));
    }
    Ok(())
}

/// A script's integer reply: negative codes become BullMQ's errors.
fn checked(code: i64, id: &str, command: &str, state: &str) -> Result<i64> {
    if code < 0 {
        return Err(EngineError::from_code(code, id, command, state));
    }
    Ok(code)
}

impl Queue {
    /// Stores `progress` (JSON text) and emits `progress` with it as `data`.
    pub async fn update_progress(&self, id: &str, progress: &str) -> Result<()> {
        check_id(id, "updateProgress")?;
        let mut inv = self.script(&UPDATE_PROGRESS);
        inv.arg(id).arg(progress);
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        checked(code, id, "updateProgress", "").map(|_| ())
    }

    /// Replaces the job's data with `data` (JSON text).
    pub async fn update_data(&self, id: &str, data: &str) -> Result<()> {
        check_id(id, "updateData")?;
        let mut inv = self.script(&UPDATE_DATA);
        inv.arg(id).arg(data);
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        checked(code, id, "updateData", "").map(|_| ())
    }

    /// Appends a log line; with `keep_logs` > 0 only the newest that many are
    /// kept. Returns the number of lines kept.
    pub async fn add_log(&self, id: &str, line: &str, keep_logs: Option<i64>) -> Result<i64> {
        check_id(id, "addLog")?;
        if let Some(k) = keep_logs {
            if k < 0 {
                return Err(EngineError::invalid(format!("keepLogs must not be negative, got {k}")));
            }
        }
        let mut inv = self.script(&ADD_LOG);
        inv.arg(id).arg(line).arg(keep_logs.filter(|k| *k > 0).map(|k| k.to_string()).unwrap_or_default());
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        checked(code, id, "addLog", "")
    }

    /// Keeps only the newest `keep` log lines; deletes the log when `keep` is
    /// absent or 0.
    pub async fn clear_logs(&self, id: &str, keep: Option<i64>) -> Result<()> {
        if is_reserved_job_id(id) {
            // No job has that id: it has no log to clear.
            return Ok(());
        }
        check_id(id, "clearLogs")?;
        let key = self.keys.logs(id);
        match keep {
            Some(k) if k < 0 => {
                Err(EngineError::invalid(format!("keepLogs must not be negative, got {k}")))
            }
            Some(k) if k > 0 => {
                redis::cmd("LTRIM").arg(key).arg(-k).arg(-1).query_async::<()>(&mut self.cmd()).await?;
                Ok(())
            }
            _ => {
                redis::cmd("DEL").arg(key).query_async::<()>(&mut self.cmd()).await?;
                Ok(())
            }
        }
    }

    /// Moves a delayed job to wait (or prioritized) now.
    pub async fn promote(&self, id: &str) -> Result<()> {
        check_id(id, "promote")?;
        let mut inv = self.script(&PROMOTE);
        inv.arg(id);
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        checked(code, id, "promote", "delayed").map(|_| ())
    }

    /// Re-schedules a delayed job to run `delay` ms after `timestamp`.
    pub async fn change_delay(&self, id: &str, delay: i64, timestamp: i64) -> Result<()> {
        check_id(id, "changeDelay")?;
        if delay < 0 {
            return Err(EngineError::invalid(format!("delay must not be negative, got {delay}")));
        }
        let mut inv = self.script(&CHANGE_DELAY);
        inv.arg(id).arg(delay).arg(timestamp);
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        checked(code, id, "changeDelay", "delayed").map(|_| ())
    }

    /// Sets the job's priority (0 = none); a waiting job is re-queued.
    pub async fn change_priority(&self, id: &str, priority: i64, lifo: bool) -> Result<()> {
        check_id(id, "changePriority")?;
        if !(0..=PRIORITY_LIMIT).contains(&priority) {
            return Err(EngineError::invalid(format!(
                "priority must be an integer between 0 and {PRIORITY_LIMIT}, got {priority}"
            )));
        }
        let mut inv = self.script(&CHANGE_PRIORITY);
        inv.arg(id).arg(priority).arg(if lifo { "1" } else { "0" });
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        checked(code, id, "changePriority", "").map(|_| ())
    }

    /// Removes the job (and with `remove_children` its whole subtree).
    /// `false` when it or a pending descendant is locked by a worker.
    pub async fn remove_job(&self, id: &str, remove_children: bool, timestamp: i64) -> Result<bool> {
        if is_reserved_job_id(id) {
            // As for an unknown job: nothing to remove, nothing locked.
            return Ok(true);
        }
        check_id(id, "removeJob")?;
        let mut inv = self.script(&REMOVE_JOB);
        inv.arg(id).arg(if remove_children { "1" } else { "0" }).arg(timestamp);
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        Ok(checked(code, id, "removeJob", "")? == 1)
    }

    /// Sends a completed or failed job back to wait (`job.retry`).
    pub async fn reprocess_job(&self, id: &str, opts: &Reprocess) -> Result<()> {
        check_id(id, "reprocessJob")?;
        let flag = |b: bool| if b { "1" } else { "0" };
        let mut inv = self.script(&REPROCESS_JOB);
        inv.arg(id)
            .arg(opts.state.as_str())
            .arg(if opts.lifo { "RPUSH" } else { "LPUSH" })
            .arg(flag(opts.reset_attempts_made))
            .arg(flag(opts.reset_attempts_started));
        let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
        checked(code, id, "reprocessJob", opts.state.as_str()).map(|_| ())
    }

    /// `completed`, `failed`, `delayed`, `prioritized`, `active`, `waiting`,
    /// `waiting-children` or `unknown`.
    pub async fn job_state(&self, id: &str) -> Result<String> {
        if is_reserved_job_id(id) {
            return Ok("unknown".into());
        }
        check_id(id, "getState")?;
        let mut inv = self.script(&GET_STATE);
        inv.arg(id);
        Ok(inv.invoke_async(&mut self.cmd()).await?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::active::{FetchSettings, Finish, KeepJobs, Outcome};
    use crate::engine::job::NewJob;
    use crate::engine::queue::now_ms;
    use crate::engine::reply::Fetched;
    use crate::engine::test_support::{new_job, raw, stream_entries, test_queue};

    fn job(opts: serde_json::Value) -> NewJob {
        new_job(opts, now_ms())
    }

    async fn add(q: &Queue, opts: serde_json::Value) -> String {
        q.add_jobs(&[job(opts)]).await.unwrap().remove(0).id
    }

    /// Fetches the next job with `token` and returns its id.
    async fn fetch(q: &Queue, token: &str) -> String {
        match q.move_to_active(token, &FetchSettings::default(), now_ms()).await.unwrap() {
            Fetched::Job(j) => j.id,
            other => panic!("expected a job, got {other:?}"),
        }
    }

    async fn finish(q: &Queue, id: &str, token: &str, outcome: Outcome) {
        let f = Finish {
            job_id: id.into(),
            token: token.into(),
            outcome,
            keep: KeepJobs::default(),
            attempts: 0,
            fetch_next: false,
            timestamp: now_ms(),
        };
        q.move_to_finished(&f, &FetchSettings::default()).await.unwrap();
    }

    /// `[event, jobId, third field value]` of every stream entry.
    async fn events(q: &Queue) -> Vec<Vec<String>> {
        stream_entries(q).await.into_iter().map(|f| f.into_iter().skip(1).step_by(2).collect()).collect()
    }

    async fn cmd<T: redis::FromRedisValue>(q: &Queue, args: &[&str]) -> T {
        let mut c = redis::cmd(args[0]);
        for a in &args[1..] {
            c.arg(*a);
        }
        c.query_async(&mut raw(q).await).await.unwrap()
    }

    #[tokio::test]
    async fn progress_is_stored_and_emitted() {
        let q = test_queue("progress").await;
        let id = add(&q, json!({})).await;
        q.update_progress(&id, r#"{"pct":42}"#).await.unwrap();
        let stored: String = cmd(&q, &["HGET", &q.keys().job(&id), "progress"]).await;
        assert_eq!(stored, r#"{"pct":42}"#);
        let last = events(&q).await.pop().unwrap();
        assert_eq!(last, vec!["progress".to_string(), id.clone(), r#"{"pct":42}"#.into()]);
        let err = q.update_progress("nope", "1").await.unwrap_err();
        assert_eq!(err.message, "Missing key for job nope. updateProgress");
        assert_eq!(err.code, -1);
    }

    #[tokio::test]
    async fn logs_are_appended_and_trimmed_to_keep_logs() {
        let q = test_queue("logs").await;
        let id = add(&q, json!({})).await;
        assert_eq!(q.add_log(&id, "a", None).await.unwrap(), 1);
        assert_eq!(q.add_log(&id, "b", None).await.unwrap(), 2);
        assert_eq!(q.add_log(&id, "c", Some(2)).await.unwrap(), 2);
        let lines: Vec<String> = cmd(&q, &["LRANGE", &q.keys().logs(&id), "0", "-1"]).await;
        assert_eq!(lines, vec!["b", "c"]);
        q.clear_logs(&id, Some(1)).await.unwrap();
        let lines: Vec<String> = cmd(&q, &["LRANGE", &q.keys().logs(&id), "0", "-1"]).await;
        assert_eq!(lines, vec!["c"]);
        q.clear_logs(&id, None).await.unwrap();
        let exists: i64 = cmd(&q, &["EXISTS", &q.keys().logs(&id)]).await;
        assert_eq!(exists, 0);
        assert_eq!(q.add_log("nope", "x", None).await.unwrap_err().code, -1);
        assert_eq!(q.add_log(&id, "x", Some(-1)).await.unwrap_err().kind, crate::engine::ErrorKind::InvalidArgument);
    }

    #[tokio::test]
    async fn promote_moves_a_delayed_job_to_the_head_of_wait() {
        let q = test_queue("promote").await;
        let first = add(&q, json!({})).await;
        let delayed = add(&q, json!({"delay": 60_000, "lifo": true})).await;
        let prio = add(&q, json!({"delay": 60_000, "priority": 5})).await;
        q.promote(&delayed).await.unwrap();
        q.promote(&prio).await.unwrap();
        // Head of wait = end of the line, even for a lifo job.
        let wait: Vec<String> = cmd(&q, &["LRANGE", &q.keys().key("wait"), "0", "-1"]).await;
        assert_eq!(wait, vec![delayed.clone(), first]);
        let score: f64 = cmd(&q, &["ZSCORE", &q.keys().key("prioritized"), &prio]).await;
        assert_eq!(score, 5.0 * 4294967296.0 + 1.0);
        let delay: String = cmd(&q, &["HGET", &q.keys().job(&delayed), "delay"]).await;
        assert_eq!(delay, "0");
        let evs = events(&q).await;
        assert!(evs.contains(&vec!["waiting".into(), delayed.clone(), "delayed".into()]));
        let err = q.promote(&delayed).await.unwrap_err();
        assert_eq!(err.message, format!("Job {delayed} is not in the delayed state. promote"));
        assert_eq!(err.code, -3);
    }

    #[tokio::test]
    async fn change_delay_rescores_from_now_and_emits_the_due_time() {
        let q = test_queue("chdelay").await;
        let id = add(&q, json!({"delay": 60_000})).await;
        let now = now_ms();
        q.change_delay(&id, 5_000, now).await.unwrap();
        let score: f64 = cmd(&q, &["ZSCORE", &q.keys().key("delayed"), &id]).await;
        assert_eq!(score, ((now + 5_000) * 4096) as f64);
        let delay: String = cmd(&q, &["HGET", &q.keys().job(&id), "delay"]).await;
        assert_eq!(delay, "5000");
        let last = events(&q).await.pop().unwrap();
        assert_eq!(last, vec!["delayed".to_string(), id.clone(), (now + 5_000).to_string()]);
        let marker: f64 = cmd(&q, &["ZSCORE", &q.keys().key("marker"), "1"]).await;
        assert_eq!(marker, (now + 5_000) as f64);

        let waiting = add(&q, json!({})).await;
        let err = q.change_delay(&waiting, 10, now).await.unwrap_err();
        assert_eq!(err.message, format!("Job {waiting} is not in the delayed state. changeDelay"));
        assert_eq!(q.change_delay("nope", 10, now).await.unwrap_err().code, -1);
        assert_eq!(
            q.change_delay(&id, -1, now).await.unwrap_err().kind,
            crate::engine::ErrorKind::InvalidArgument
        );
    }

    #[tokio::test]
    async fn change_priority_requeues_runnable_jobs() {
        let q = test_queue("chprio").await;
        let a = add(&q, json!({})).await;
        let b = add(&q, json!({})).await;
        let c = add(&q, json!({"priority": 3})).await;
        // wait -> prioritized with a fresh counter (pc was 1 after c).
        q.change_priority(&a, 3, false).await.unwrap();
        let score: f64 = cmd(&q, &["ZSCORE", &q.keys().key("prioritized"), &a]).await;
        assert_eq!(score, 3.0 * 4294967296.0 + 2.0);
        // lifo: front of its priority group, no counter.
        q.change_priority(&c, 3, true).await.unwrap();
        let first: Vec<String> = cmd(&q, &["ZRANGE", &q.keys().key("prioritized"), "0", "0"]).await;
        assert_eq!(first, vec![c.clone()]);
        let score: f64 = cmd(&q, &["ZSCORE", &q.keys().key("prioritized"), &c]).await;
        assert_eq!(score, 3.0 * 4294967296.0);
        // prioritized -> wait, lifo = tail (runs next).
        q.change_priority(&a, 0, true).await.unwrap();
        let wait: Vec<String> = cmd(&q, &["LRANGE", &q.keys().key("wait"), "0", "-1"]).await;
        assert_eq!(wait, vec![b.clone(), a.clone()]);
        let prio: String = cmd(&q, &["HGET", &q.keys().job(&a), "priority"]).await;
        assert_eq!(prio, "0");
        // Not runnable: only the field changes.
        let d = add(&q, json!({"delay": 60_000})).await;
        q.change_priority(&d, 7, false).await.unwrap();
        let prio: String = cmd(&q, &["HGET", &q.keys().job(&d), "priority"]).await;
        assert_eq!(prio, "7");
        let in_delayed: Option<f64> = cmd(&q, &["ZSCORE", &q.keys().key("delayed"), &d]).await;
        assert!(in_delayed.is_some());
        assert_eq!(
            q.change_priority("nope", 1, false).await.unwrap_err().message,
            "Missing key for job nope. changePriority"
        );
        assert_eq!(
            q.change_priority(&a, -1, false).await.unwrap_err().kind,
            crate::engine::ErrorKind::InvalidArgument
        );
    }

    #[tokio::test]
    async fn job_state_follows_bullmq_lookup_order() {
        let q = test_queue("state").await;
        let active = add(&q, json!({})).await;
        assert_eq!(fetch(&q, "t").await, active);
        let waiting = add(&q, json!({})).await;
        let delayed = add(&q, json!({"delay": 60_000})).await;
        let prio = add(&q, json!({"priority": 2})).await;
        assert_eq!(q.job_state(&active).await.unwrap(), "active");
        assert_eq!(q.job_state(&waiting).await.unwrap(), "waiting");
        assert_eq!(q.job_state(&delayed).await.unwrap(), "delayed");
        assert_eq!(q.job_state(&prio).await.unwrap(), "prioritized");
        finish(&q, &active, "t", Outcome::Completed("1".into())).await;
        assert_eq!(q.job_state(&active).await.unwrap(), "completed");
        let _: i64 = cmd(&q, &["RPUSH", &q.keys().key("paused"), "legacy"]).await;
        assert_eq!(q.job_state("legacy").await.unwrap(), "waiting");
        let _: i64 = cmd(&q, &["ZADD", &q.keys().key("waiting-children"), "1", "parent"]).await;
        assert_eq!(q.job_state("parent").await.unwrap(), "waiting-children");
        let _: i64 = cmd(&q, &["ZADD", &q.keys().key("failed"), "1", "f"]).await;
        assert_eq!(q.job_state("f").await.unwrap(), "failed");
        assert_eq!(q.job_state("nope").await.unwrap(), "unknown");
    }

    #[tokio::test]
    async fn remove_deletes_keys_and_emits_removed_with_prev() {
        let q = test_queue("remove").await;
        let id = add(&q, json!({"deduplication": {"id": "d1"}})).await;
        let _: () = cmd(&q, &["SET", &q.keys().key("de:d1"), &id]).await;
        let _: () = cmd(&q, &["HSET", &q.keys().job(&id), "deid", "d1"]).await;
        q.add_log(&id, "line", None).await.unwrap();
        assert!(q.remove_job(&id, true, now_ms()).await.unwrap());
        for key in [q.keys().job(&id), q.keys().logs(&id), q.keys().key("de:d1")] {
            let exists: i64 = cmd(&q, &["EXISTS", &key]).await;
            assert_eq!(exists, 0, "{key} should be gone");
        }
        let wait: i64 = cmd(&q, &["LLEN", &q.keys().key("wait")]).await;
        assert_eq!(wait, 0);
        let last = events(&q).await.pop().unwrap();
        assert_eq!(last, vec!["removed".to_string(), id.clone(), "wait".into()]);
        // Nothing left: still 1, but no second event.
        let before = events(&q).await.len();
        assert!(q.remove_job(&id, true, now_ms()).await.unwrap());
        assert_eq!(events(&q).await.len(), before);
    }

    #[tokio::test]
    async fn a_locked_job_or_locked_child_is_not_removed() {
        let q = test_queue("rmlock").await;
        let id = add(&q, json!({})).await;
        assert_eq!(fetch(&q, "tok").await, id);
        assert!(!q.remove_job(&id, true, now_ms()).await.unwrap());
        let exists: i64 = cmd(&q, &["EXISTS", &q.keys().job(&id)]).await;
        assert_eq!(exists, 1);

        // A parent whose pending child is locked.
        let parent = add(&q, json!({"jobId": "p"})).await;
        let _: i64 = cmd(&q, &["SADD", &format!("{}:dependencies", q.keys().job(&parent)), &q.keys().job(&id)]).await;
        assert!(!q.remove_job(&parent, true, now_ms()).await.unwrap());
        // Without children the parent alone goes.
        assert!(q.remove_job(&parent, false, now_ms()).await.unwrap());
        let exists: i64 = cmd(&q, &["EXISTS", &q.keys().job(&parent)]).await;
        assert_eq!(exists, 0);
    }

    #[tokio::test]
    async fn remove_takes_children_in_any_state_and_releases_a_parent() {
        let q = test_queue("rmtree").await;
        let other = test_queue("rmtree-child").await;
        let grand = add(&q, json!({"jobId": "grand"})).await;
        let parent = q
            .add_jobs(&[job(json!({"jobId": "parent", "parent": {"id": grand, "queue": q.keys().qualified_name()}}))])
            .await
            .unwrap()
            .remove(0)
            .id;
        // The grandparent waits for its only child.
        let _: i64 = cmd(&q, &["LREM", &q.keys().key("wait"), "0", &grand]).await;
        let _: i64 = cmd(&q, &["ZADD", &q.keys().key("waiting-children"), "1", &grand]).await;
        let parent_key = q.keys().job(&parent);
        let pending = other
            .add_jobs(&[job(json!({"parent": {"id": parent, "queue": q.keys().qualified_name()}}))])
            .await
            .unwrap()
            .remove(0)
            .id;
        let done = other.keys().job("done");
        let _: i64 = cmd(&q, &["HSET", &done, "name", "x"]).await;
        let _: i64 = cmd(&q, &["ZADD", &other.keys().key("completed"), "1", "done"]).await;
        let _: i64 = cmd(&q, &["HSET", &format!("{parent_key}:processed"), &done, "1"]).await;

        assert!(q.remove_job(&parent, true, now_ms()).await.unwrap());
        for key in [parent_key.clone(), other.keys().job(&pending), done] {
            let exists: i64 = cmd(&q, &["EXISTS", &key]).await;
            assert_eq!(exists, 0, "{key} should be gone");
        }
        let child_events = events(&other).await;
        assert!(child_events.contains(&vec!["removed".into(), pending.clone(), "wait".into()]));
        assert!(child_events.contains(&vec!["removed".into(), "done".into(), "completed".into()]));
        // The grandparent had nothing else pending: back to the tail of wait.
        let wait: Vec<String> = cmd(&q, &["LRANGE", &q.keys().key("wait"), "0", "-1"]).await;
        assert_eq!(wait.last(), Some(&grand));
        let evs = events(&q).await;
        assert!(evs.contains(&vec!["waiting".into(), grand.clone(), "waiting-children".into()]));
        assert!(evs.contains(&vec!["removed".into(), parent.clone(), "wait".into()]));
    }

    #[tokio::test]
    async fn the_current_scheduler_iteration_cannot_be_removed() {
        let q = test_queue("rmsched").await;
        let id = "repeat:sch:1700000000000";
        let _: i64 = cmd(&q, &["HSET", &q.keys().job(id), "name", "x", "rjk", "sch"]).await;
        let _: i64 = cmd(&q, &["ZADD", &q.keys().key("repeat"), "1700000000000", "sch"]).await;
        let err = q.remove_job(id, true, now_ms()).await.unwrap_err();
        assert_eq!(err.code, -8);
        assert_eq!(
            err.message,
            format!("Job {id} belongs to a job scheduler and cannot be removed directly. removeJob")
        );
        // A past iteration can go.
        let _: i64 = cmd(&q, &["ZADD", &q.keys().key("repeat"), "1700000005000", "sch"]).await;
        assert!(q.remove_job(id, true, now_ms()).await.unwrap());
    }

    #[tokio::test]
    async fn reprocess_sends_a_failed_job_back_and_relinks_its_parent() {
        let q = test_queue("reprocess").await;
        let parent = add(&q, json!({"jobId": "parent"})).await;
        let _: i64 = cmd(&q, &["LREM", &q.keys().key("wait"), "0", &parent]).await;
        let id = q
            .add_jobs(&[job(json!({"parent": {"id": parent, "queue": q.keys().qualified_name()}}))])
            .await
            .unwrap()
            .remove(0)
            .id;
        assert_eq!(fetch(&q, "t").await, id);
        finish(&q, &id, "t", Outcome::Failed { reason: "boom".into(), stacktrace: "[]".into() }).await;
        let job_key = q.keys().job(&id);
        let parent_key = q.keys().job(&parent);
        // What a final failure with failParentOnFailure leaves in the parent.
        let _: i64 = cmd(&q, &["SREM", &format!("{parent_key}:dependencies"), &job_key]).await;
        let _: i64 = cmd(&q, &["ZADD", &format!("{parent_key}:unsuccessful"), "1", &job_key]).await;

        let wrong = Reprocess {
            state: FinishedState::Completed,
            lifo: false,
            reset_attempts_made: false,
            reset_attempts_started: false,
        };
        let err = q.reprocess_job(&id, &wrong).await.unwrap_err();
        assert_eq!(err.message, format!("Job {id} is not in the completed state. reprocessJob"));

        let opts = Reprocess { state: FinishedState::Failed, reset_attempts_made: true, ..wrong };
        q.reprocess_job(&id, &opts).await.unwrap();
        let fields: Vec<Option<String>> = cmd(
            &q,
            &["HMGET", &job_key, "finishedOn", "processedOn", "failedReason", "atm", "ats"],
        )
        .await;
        assert_eq!(fields, vec![None, None, None, None, Some("1".into())]);
        let wait: Vec<String> = cmd(&q, &["LRANGE", &q.keys().key("wait"), "0", "-1"]).await;
        assert_eq!(wait, vec![id.clone()]);
        let deps: Vec<String> = cmd(&q, &["SMEMBERS", &format!("{parent_key}:dependencies")]).await;
        assert_eq!(deps, vec![job_key.clone()]);
        let unsuccessful: i64 = cmd(&q, &["ZCARD", &format!("{parent_key}:unsuccessful")]).await;
        assert_eq!(unsuccessful, 0);
        let last = events(&q).await.pop().unwrap();
        assert_eq!(last, vec!["waiting".to_string(), id.clone(), "failed".into()]);
        assert_eq!(q.reprocess_job("nope", &opts).await.unwrap_err().code, -1);
    }

    #[tokio::test]
    async fn update_data_replaces_the_data_field() {
        let q = test_queue("data").await;
        let id = add(&q, json!({})).await;
        q.update_data(&id, r#"{"v":2}"#).await.unwrap();
        let data: String = cmd(&q, &["HGET", &q.keys().job(&id), "data"]).await;
        assert_eq!(data, r#"{"v":2}"#);
        assert_eq!(
            q.update_data("nope", "{}").await.unwrap_err().message,
            "Missing key for job nope. updateData"
        );
    }
}
