//! Control operations of a queue, as BullMQ's Queue has them: opening with
//! the `meta` write, pause / resume, drain, clean, obliterate, the manual rate
//! limit, and the bulk moves retryJobs / promoteJobs.

use super::connection::{Connection, ConnectionOptions};
use super::error::{EngineError, Result};
use super::queue::Queue;
use super::reply::as_strings;

crate::lua_script!(
    /// Pauses the queue (meta.paused, marker deleted, `paused` event).
    PAUSE => ["includes/common.lua", "pause.lua"]
);
crate::lua_script!(
    /// Resumes the queue, migrating a legacy `paused` list in batches.
    RESUME => ["includes/common.lua", "includes/removal.lua", "resume.lua"]
);
crate::lua_script!(
    /// Removes waiting (and optionally delayed) jobs.
    DRAIN => ["includes/common.lua", "includes/removal.lua", "drain.lua"]
);
crate::lua_script!(
    /// Removes the jobs of one state older than a cutoff.
    CLEAN => ["includes/common.lua", "includes/removal.lua", "clean.lua"]
);
crate::lua_script!(
    /// Destroys a paused queue, a budget of jobs per call.
    OBLITERATE => ["includes/common.lua", "includes/removal.lua", "obliterate.lua"]
);
crate::lua_script!(
    /// Moves finished or delayed jobs to wait in bulk.
    MOVE_JOBS_TO_WAIT => ["includes/common.lua", "includes/removal.lua", "moveJobsToWait.lua"]
);

/// What a producing `Queue` writes into `meta` when it connects (BullMQ's
/// `metaValues`), unless the user set `skipMetasUpdate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMeta {
    /// `opts.maxLenEvents`: approximate maximum length of the events stream.
    pub max_len_events: i64,
    /// `version`: `"{libName}:{semver}"`.
    pub version: String,
}

/// The value BullMQ uses for a manual rate limit (`Number.MAX_SAFE_INTEGER`).
const MANUAL_RATE_LIMIT_COUNT: i64 = 9_007_199_254_740_991;

/// Largest batch `clean` removes per script call, as BullMQ.
const CLEAN_BATCH: i64 = 10_000;

/// Jobs handled per script call by obliterate, retryJobs, promoteJobs and
/// removeOrphanedJobs when the caller gives no `count` (BullMQ's 1000).
pub const DEFAULT_BATCH_COUNT: i64 = 1000;

/// States `clean` accepts (`waiting` is the wait list).
fn clean_state(state: &str) -> Result<&'static str> {
    Ok(match state {
        "completed" => "completed",
        "failed" => "failed",
        "wait" | "waiting" => "wait",
        "paused" => "paused",
        "active" => "active",
        "delayed" => "delayed",
        "prioritized" => "prioritized",
        "waiting-children" => "waiting-children",
        other => {
            return Err(EngineError::invalid(format!(
                "cannot clean jobs of type '{other}' (expected one of: completed, failed, wait, waiting, \
                 paused, active, delayed, prioritized, waiting-children)"
            )))
        }
    })
}

impl Queue {
    /// Connects (on the process's shared command connection, see
    /// [`Connection::shared`]) and, with `meta`, records the producer's queue settings in the
    /// queue's `meta` hash as BullMQ's Queue does on startup. Like BullMQ, a
    /// failing meta write does not fail the open.
    /// On a Redis Cluster, a queue whose keys would not share one hash slot
    /// is refused before connecting.
    pub async fn open(options: ConnectionOptions, prefix: &str, name: &str, meta: Option<&QueueMeta>) -> Result<Self> {
        if options.is_cluster() {
            super::cluster::check_queue_slot(prefix, name)?;
        }
        let queue = Queue::new(Connection::shared(options).await?, prefix, name);
        if let Some(meta) = meta {
            if let Err(err) = queue.write_meta(meta).await {
                tracing::warn!(%err, queue = name, "could not write the queue's meta");
            }
        }
        Ok(queue)
    }

    /// Writes `opts.maxLenEvents` and `version` into `meta`.
    pub async fn write_meta(&self, meta: &QueueMeta) -> Result<()> {
        redis::cmd("HSET")
            .arg(self.keys.key("meta"))
            .arg("opts.maxLenEvents")
            .arg(meta.max_len_events)
            .arg("version")
            .arg(&meta.version)
            .query_async::<()>(&mut self.cmd())
            .await?;
        Ok(())
    }

    /// Pauses the queue globally: workers fetch nothing until `resume`.
    pub async fn pause(&self) -> Result<()> {
        let _: i64 = self.script(&PAUSE).invoke_async(&mut self.cmd()).await?;
        Ok(())
    }

    /// Resumes the queue; a legacy `paused` list is moved back into wait, a
    /// batch per call, with one `resumed` event.
    pub async fn resume(&self) -> Result<()> {
        let mut first = true;
        loop {
            let mut inv = self.script(&RESUME);
            inv.arg(if first { "1" } else { "0" });
            let remaining: i64 = inv.invoke_async(&mut self.cmd()).await?;
            first = false;
            if remaining <= 0 {
                return Ok(());
            }
        }
    }

    /// Removes the jobs waiting to run (and the delayed ones when `delayed`).
    pub async fn drain(&self, delayed: bool) -> Result<()> {
        let mut inv = self.script(&DRAIN);
        inv.arg(if delayed { "1" } else { "0" });
        let _: i64 = inv.invoke_async(&mut self.cmd()).await?;
        Ok(())
    }

    /// Removes up to `limit` jobs (0 = all) of `state` that are older than
    /// `cutoff`, in batches of at most 10000 as BullMQ does; returns the ids
    /// removed by each batch (each batch emitted one `cleaned` event).
    pub async fn clean(&self, state: &str, cutoff: i64, limit: i64) -> Result<Vec<Vec<String>>> {
        let state = clean_state(state)?;
        let max = if limit > 0 { limit } else { i64::MAX };
        let per_call = CLEAN_BATCH.min(max);
        let mut removed = 0i64;
        let mut batches = Vec::new();
        while removed < max {
            let batch = per_call.min(max - removed);
            let mut inv = self.script(&CLEAN);
            inv.arg(state).arg(cutoff).arg(batch);
            let reply: redis::Value = inv.invoke_async(&mut self.cmd()).await?;
            let ids = as_strings(&reply);
            let n = ids.len() as i64;
            removed += n;
            batches.push(ids);
            if n < batch {
                break;
            }
        }
        Ok(batches)
    }

    /// Destroys the queue and its jobs; it must be paused, and without
    /// `force` it must have no active jobs. Removes `count` jobs per call.
    pub async fn obliterate(&self, force: bool, count: i64) -> Result<()> {
        let count = count.max(1);
        loop {
            let mut inv = self.script(&OBLITERATE);
            inv.arg(count).arg(if force { "1" } else { "0" });
            let code: i64 = inv.invoke_async(&mut self.cmd()).await?;
            match code {
                0 => return Ok(()),
                1 => continue,
                -1 => return Err(EngineError::other("Cannot obliterate non-paused queue")),
                -2 => return Err(EngineError::other("Cannot obliterate queue with active jobs")),
                other => return Err(EngineError::from_code(other, "", "obliterate", "")),
            }
        }
    }

    /// Rate-limits the queue for `ms` milliseconds (for workers with a limiter
    /// or a global rate limit), as BullMQ's `rateLimit(ms)`.
    pub async fn rate_limit(&self, ms: i64) -> Result<()> {
        if ms <= 0 {
            return Err(EngineError::invalid(format!("rate limit must be a positive number of milliseconds, got {ms}")));
        }
        redis::cmd("SET")
            .arg(self.keys.key("limiter"))
            .arg(MANUAL_RATE_LIMIT_COUNT)
            .arg("PX")
            .arg(ms)
            .query_async::<()>(&mut self.cmd())
            .await?;
        Ok(())
    }

    /// Moves `failed` or `completed` jobs finished at or before `timestamp`
    /// back to wait, `count` per call until none is left.
    pub async fn retry_jobs(&self, state: &str, count: i64, timestamp: i64) -> Result<()> {
        if state != "failed" && state != "completed" {
            return Err(EngineError::invalid(format!(
                "retryJobs: state must be 'failed' or 'completed', got '{state}'"
            )));
        }
        self.move_jobs_to_wait(state, &timestamp.to_string(), count).await
    }

    /// Moves every delayed job to wait, `count` per call.
    pub async fn promote_jobs(&self, count: i64) -> Result<()> {
        self.move_jobs_to_wait("delayed", "+inf", count).await
    }

    async fn move_jobs_to_wait(&self, state: &str, cutoff: &str, count: i64) -> Result<()> {
        let count = count.max(1);
        loop {
            let mut inv = self.script(&MOVE_JOBS_TO_WAIT);
            inv.arg(state).arg(cutoff).arg(count);
            let more: i64 = inv.invoke_async(&mut self.cmd()).await?;
            if more == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::active::FetchSettings;
    use crate::engine::job::NewJob;
    use crate::engine::queue::now_ms;
    use crate::engine::reply::Fetched;
    use crate::engine::test_support::{new_job, raw, redis_url, test_queue};

    type Conn = crate::engine::connection::Commands;

    fn job(opts: serde_json::Value) -> NewJob {
        new_job(opts, now_ms())
    }

    async fn cmd<T: redis::FromRedisValue>(c: &mut Conn, args: &[&str]) -> T {
        let mut command = redis::cmd(args[0]);
        for a in &args[1..] {
            command.arg(*a);
        }
        command.query_async(c).await.unwrap()
    }

    async fn events(q: &Queue, c: &mut Conn) -> Vec<String> {
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(q.keys().key("events"))
            .arg("-")
            .arg("+")
            .query_async(c)
            .await
            .unwrap();
        entries.into_iter().map(|(_, f)| f[1].clone()).collect()
    }

    #[tokio::test]
    async fn open_writes_meta_only_when_asked() {
        let opts = || ConnectionOptions { url: Some(redis_url()), ..Default::default() };
        let meta = QueueMeta { max_len_events: 500, version: "bullmq-native:1.2.3".into() };
        let name = format!("meta-{}", &uuid::Uuid::new_v4().to_string()[..8]);
        let q = Queue::open(opts(), "bull", &name, Some(&meta)).await.unwrap();
        let mut c = raw(&q).await;
        let stored: Vec<(String, String)> = redis::cmd("HGETALL").arg(q.keys().key("meta")).query_async(&mut c).await.unwrap();
        let mut stored = stored;
        stored.sort();
        assert_eq!(
            stored,
            vec![
                ("opts.maxLenEvents".to_string(), "500".to_string()),
                ("version".to_string(), "bullmq-native:1.2.3".to_string())
            ]
        );
        let other = format!("meta-{}", &uuid::Uuid::new_v4().to_string()[..8]);
        let q2 = Queue::open(opts(), "bull", &other, None).await.unwrap();
        let exists: i64 = cmd(&mut c, &["EXISTS", &q2.keys().key("meta")]).await;
        assert_eq!(exists, 0);
    }

    #[tokio::test]
    async fn pause_keeps_wait_and_stops_fetches_resume_restores_the_marker() {
        let q = test_queue("pause").await;
        q.add_jobs(&[job(json!({}))]).await.unwrap();
        q.pause().await.unwrap();
        let mut c = raw(&q).await;
        let meta = q.keys().key("meta");
        assert_eq!(cmd::<Option<String>>(&mut c, &["HGET", &meta, "paused"]).await.as_deref(), Some("1"));
        assert_eq!(cmd::<i64>(&mut c, &["EXISTS", &q.keys().key("marker")]).await, 0);
        assert_eq!(cmd::<Vec<String>>(&mut c, &["LRANGE", &q.keys().key("wait"), "0", "-1"]).await, vec!["1"]);
        let fetched = q.move_to_active("t", &FetchSettings::default(), now_ms()).await.unwrap();
        assert!(matches!(fetched, Fetched::Nothing), "{fetched:?}");
        q.resume().await.unwrap();
        assert_eq!(cmd::<i64>(&mut c, &["HEXISTS", &meta, "paused"]).await, 0);
        let marker: Vec<String> = cmd(&mut c, &["ZRANGE", &q.keys().key("marker"), "0", "-1", "WITHSCORES"]).await;
        assert_eq!(marker, vec!["0", "0"]);
        let evs = events(&q, &mut c).await;
        assert_eq!(&evs[evs.len() - 2..], &["paused".to_string(), "resumed".to_string()]);
    }

    #[tokio::test]
    async fn resume_moves_a_legacy_paused_list_behind_wait_in_batches() {
        let q = test_queue("legacy").await;
        let mut c = raw(&q).await;
        let paused = q.keys().key("paused");
        let wait = q.keys().key("wait");
        // A 5.x pause left 7005 ids in `paused` (head = newest), and a 6.x
        // producer added "new" to wait meanwhile.
        let ids: Vec<String> = (0..7005).rev().map(|i| format!("old{i}")).collect();
        let _: () = redis::cmd("RPUSH").arg(&paused).arg(&ids).query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("LPUSH").arg(&wait).arg("new").query_async(&mut c).await.unwrap();
        q.pause().await.unwrap();
        q.resume().await.unwrap();
        assert_eq!(cmd::<i64>(&mut c, &["EXISTS", &paused]).await, 0);
        let all: Vec<String> = cmd(&mut c, &["LRANGE", &wait, "0", "-1"]).await;
        assert_eq!(all.len(), 7006);
        assert_eq!(all[0], "new");
        // The tail (next to run) is the oldest legacy job.
        assert_eq!(all[7005], "old0");
        assert_eq!(all[1], "old7004");
        let evs = events(&q, &mut c).await;
        assert_eq!(evs.iter().filter(|e| *e == "resumed").count(), 1);

        // Without a wait list the legacy list is renamed.
        let q2 = test_queue("legacy2").await;
        let _: () = redis::cmd("RPUSH").arg(q2.keys().key("paused")).arg("a").arg("b").query_async(&mut c).await.unwrap();
        q2.resume().await.unwrap();
        assert_eq!(cmd::<Vec<String>>(&mut c, &["LRANGE", &q2.keys().key("wait"), "0", "-1"]).await, vec!["a", "b"]);
    }

    #[tokio::test]
    async fn drain_keeps_scheduler_iterations_and_removes_childless_parents() {
        let q = test_queue("drain").await;
        let mut c = raw(&q).await;
        q.add_jobs(&[job(json!({})), job(json!({"priority": 3})), job(json!({"delay": 60000}))]).await.unwrap();
        // The pending iteration of scheduler "s" sits in wait.
        let iteration = "repeat:s:1700000000000";
        let _: () = redis::cmd("ZADD").arg(q.keys().key("repeat")).arg(1_700_000_000_000i64).arg("s").query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("HSET").arg(q.keys().job(iteration)).arg("name").arg("it").arg("rjk").arg("s").query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("LPUSH").arg(q.keys().key("wait")).arg(iteration).query_async(&mut c).await.unwrap();
        // A parent in waiting-children whose only child waits.
        let parent = q.keys().job("parent");
        let _: () = redis::cmd("HSET").arg(&parent).arg("name").arg("p").query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("ZADD").arg(q.keys().key("waiting-children")).arg(1).arg("parent").query_async(&mut c).await.unwrap();
        let child = q
            .add_jobs(&[job(json!({"jobId": "child", "parent": {"id": "parent", "queue": q.keys().qualified_name()}}))])
            .await
            .unwrap();
        assert_eq!(child[0].id, "child");

        q.drain(false).await.unwrap();
        assert_eq!(cmd::<Vec<String>>(&mut c, &["LRANGE", &q.keys().key("wait"), "0", "-1"]).await, vec![iteration]);
        assert_eq!(cmd::<i64>(&mut c, &["ZCARD", &q.keys().key("prioritized")]).await, 0);
        assert_eq!(cmd::<i64>(&mut c, &["ZCARD", &q.keys().key("delayed")]).await, 1);
        assert_eq!(cmd::<i64>(&mut c, &["EXISTS", &q.keys().job("1")]).await, 0);
        assert_eq!(cmd::<i64>(&mut c, &["EXISTS", &q.keys().job("child")]).await, 0);
        assert_eq!(cmd::<i64>(&mut c, &["EXISTS", &parent]).await, 0, "hard removal takes the parent too");
        assert_eq!(cmd::<i64>(&mut c, &["ZCARD", &q.keys().key("waiting-children")]).await, 0);

        q.drain(true).await.unwrap();
        assert_eq!(cmd::<i64>(&mut c, &["ZCARD", &q.keys().key("delayed")]).await, 0);
        assert_eq!(cmd::<i64>(&mut c, &["EXISTS", &q.keys().job("3")]).await, 0);
    }

    #[tokio::test]
    async fn clean_removes_old_jobs_per_state_and_reports_them() {
        let q = test_queue("clean").await;
        let mut c = raw(&q).await;
        let now = now_ms();
        let old = NewJob { now: now - 10_000, ..job(json!({})) };
        let added = q.add_jobs(&[old.clone(), old.clone(), job(json!({}))]).await.unwrap();
        assert_eq!(added.len(), 3);
        // Two old jobs and a fresh one wait; clean with 5 s grace takes the old ones.
        let batches = q.clean("wait", now - 5_000, 0).await.unwrap();
        let mut removed: Vec<String> = batches.concat();
        removed.sort();
        assert_eq!(removed, vec!["1", "2"]);
        assert_eq!(cmd::<Vec<String>>(&mut c, &["LRANGE", &q.keys().key("wait"), "0", "-1"]).await, vec!["3"]);
        assert_eq!(cmd::<i64>(&mut c, &["EXISTS", &q.keys().job("1")]).await, 0);

        // Finished sets go by score; the limit caps the count.
        for (id, score) in [("c1", now - 9_000), ("c2", now - 8_000), ("c3", now)] {
            let _: () = redis::cmd("HSET").arg(q.keys().job(id)).arg("name").arg("x").query_async(&mut c).await.unwrap();
            let _: () = redis::cmd("ZADD").arg(q.keys().key("completed")).arg(score).arg(id).query_async(&mut c).await.unwrap();
        }
        let first = q.clean("completed", now - 5_000, 1).await.unwrap();
        assert_eq!(first, vec![vec!["c1".to_string()]]);
        let rest = q.clean("completed", now - 5_000, 0).await.unwrap();
        assert_eq!(rest, vec![vec!["c2".to_string()]]);
        assert_eq!(cmd::<Vec<String>>(&mut c, &["ZRANGE", &q.keys().key("completed"), "0", "-1"]).await, vec!["c3"]);

        let evs = events(&q, &mut c).await;
        assert_eq!(evs.iter().filter(|e| *e == "cleaned").count(), 3);
        assert!(q.clean("meta", now, 0).await.is_err());
    }

    #[tokio::test]
    async fn clean_of_active_jobs_skips_locked_ones() {
        let q = test_queue("cleanactive").await;
        let mut c = raw(&q).await;
        let old = NewJob { now: now_ms() - 60_000, ..job(json!({})) };
        q.add_jobs(&[old.clone(), old]).await.unwrap();
        // Both become active with an old processedOn; job 1 keeps its lock.
        let settings = FetchSettings::default();
        q.move_to_active("t", &settings, now_ms() - 30_000).await.unwrap();
        q.move_to_active("t", &settings, now_ms() - 30_000).await.unwrap();
        let _: () = redis::cmd("DEL").arg(q.keys().lock("2")).query_async(&mut c).await.unwrap();
        let removed = q.clean("active", now_ms() - 1_000, 0).await.unwrap().concat();
        assert_eq!(removed, vec!["2"]);
        assert_eq!(cmd::<Vec<String>>(&mut c, &["LRANGE", &q.keys().key("active"), "0", "-1"]).await, vec!["1"]);
    }

    #[tokio::test]
    async fn obliterate_requires_pause_and_no_active_jobs_unless_forced() {
        let q = test_queue("obliterate").await;
        let mut c = raw(&q).await;
        let added: Vec<NewJob> = (0..5).map(|_| job(json!({}))).collect();
        q.add_jobs(&added).await.unwrap();
        q.add_jobs(&[job(json!({"delay": 60000})), job(json!({"priority": 2}))]).await.unwrap();
        q.move_to_active("tok", &FetchSettings::default(), now_ms()).await.unwrap();
        let err = q.obliterate(false, 1000).await.unwrap_err();
        assert_eq!(err.message, "Cannot obliterate non-paused queue");
        q.pause().await.unwrap();
        let err = q.obliterate(false, 1000).await.unwrap_err();
        assert_eq!(err.message, "Cannot obliterate queue with active jobs");
        // A small budget makes it loop.
        q.obliterate(true, 2).await.unwrap();
        let left: Vec<String> = cmd(&mut c, &["KEYS", &format!("{}*", q.keys().base())]).await;
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test]
    async fn obliterate_leaves_what_bullmq_leaves() {
        let q = test_queue("oblkeep").await;
        let mut c = raw(&q).await;
        q.add_jobs(&[job(json!({}))]).await.unwrap();
        q.rate_limit(60_000).await.unwrap();
        let _: () = redis::cmd("ZADD").arg(q.keys().key("waiting-children")).arg(1).arg("p").query_async(&mut c).await.unwrap();
        q.pause().await.unwrap();
        q.obliterate(false, 1000).await.unwrap();
        let mut left: Vec<String> = cmd(&mut c, &["KEYS", &format!("{}*", q.keys().base())]).await;
        left.sort();
        assert_eq!(left, vec![q.keys().key("limiter"), q.keys().key("waiting-children")]);
    }

    #[tokio::test]
    async fn rate_limit_sets_the_limiter_as_bullmq() {
        let q = test_queue("ratelimit").await;
        let mut c = raw(&q).await;
        q.rate_limit(5_000).await.unwrap();
        let limiter = q.keys().key("limiter");
        assert_eq!(cmd::<String>(&mut c, &["GET", &limiter]).await, "9007199254740991");
        let ttl: i64 = cmd(&mut c, &["PTTL", &limiter]).await;
        assert!(ttl > 0 && ttl <= 5_000);
        assert!(q.rate_limit(0).await.is_err());
    }

    #[tokio::test]
    async fn retry_jobs_moves_failed_jobs_to_the_head_of_wait_and_relinks_parents() {
        let q = test_queue("retry").await;
        let mut c = raw(&q).await;
        let now = now_ms();
        let parent = q.keys().job("parent");
        let _: () = redis::cmd("HSET").arg(&parent).arg("name").arg("p").query_async(&mut c).await.unwrap();
        for (i, id) in ["f1", "f2", "f3"].iter().enumerate() {
            let key = q.keys().job(id);
            let _: () = redis::cmd("HSET")
                .arg(&key)
                .arg("name").arg("x")
                .arg("priority").arg(5)
                .arg("finishedOn").arg(now - 100)
                .arg("processedOn").arg(now - 200)
                .arg("failedReason").arg("boom")
                .arg("parentKey").arg(&parent)
                .query_async(&mut c)
                .await
                .unwrap();
            let _: () = redis::cmd("ZADD").arg(q.keys().key("failed")).arg(now - 100 + i as i64).arg(*id).query_async(&mut c).await.unwrap();
        }
        let _: () = redis::cmd("ZADD").arg(format!("{parent}:unsuccessful")).arg(1).arg(q.keys().job("f1")).query_async(&mut c).await.unwrap();
        // count 2 makes it take two calls.
        q.retry_jobs("failed", 2, now).await.unwrap();
        assert_eq!(cmd::<i64>(&mut c, &["ZCARD", &q.keys().key("failed")]).await, 0);
        let wait: Vec<String> = cmd(&mut c, &["LRANGE", &q.keys().key("wait"), "0", "-1"]).await;
        assert_eq!(wait, vec!["f3", "f2", "f1"], "pushed at the head, priority ignored");
        let fields: Vec<Option<String>> =
            cmd(&mut c, &["HMGET", &q.keys().job("f1"), "finishedOn", "processedOn", "failedReason", "name"]).await;
        assert_eq!(fields, vec![None, None, None, Some("x".to_string())]);
        let deps: Vec<String> = cmd(&mut c, &["SMEMBERS", &format!("{parent}:dependencies")]).await;
        assert_eq!(deps, vec![q.keys().job("f1")]);
        assert_eq!(cmd::<i64>(&mut c, &["EXISTS", &format!("{parent}:unsuccessful")]).await, 0);
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE").arg(q.keys().key("events")).arg("-").arg("+").query_async(&mut c).await.unwrap();
        let waiting: Vec<&Vec<String>> = entries.iter().map(|(_, f)| f).filter(|f| f[1] == "waiting").collect();
        assert_eq!(waiting.len(), 3);
        assert_eq!(waiting[0][4..], ["prev".to_string(), "failed".to_string()]);
        assert!(q.retry_jobs("delayed", 10, now).await.is_err());
    }

    #[tokio::test]
    async fn promote_jobs_moves_every_delayed_job_to_wait() {
        let q = test_queue("promote").await;
        let mut c = raw(&q).await;
        q.add_jobs(&[job(json!({"delay": 60000})), job(json!({"delay": 90000, "priority": 4}))]).await.unwrap();
        q.promote_jobs(1000).await.unwrap();
        assert_eq!(cmd::<i64>(&mut c, &["ZCARD", &q.keys().key("delayed")]).await, 0);
        let wait: Vec<String> = cmd(&mut c, &["LRANGE", &q.keys().key("wait"), "0", "-1"]).await;
        assert_eq!(wait, vec!["2", "1"]);
        // The delay field is kept, as BullMQ does.
        assert_eq!(cmd::<String>(&mut c, &["HGET", &q.keys().job("1"), "delay"]).await, "60000");
        let marker: Vec<String> = cmd(&mut c, &["ZRANGE", &q.keys().key("marker"), "0", "0", "WITHSCORES"]).await;
        assert_eq!(marker, vec!["0", "0"]);
    }
}
