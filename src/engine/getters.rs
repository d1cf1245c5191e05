//! Read-only views of a queue, as BullMQ's QueueGetters has them: counts,
//! job listings, logs, workers, pause and rate-limit state (the state of one
//! job is `Queue::job_state` in job_ops.rs). Plain reads are pipelines;
//! reads that must be atomic are scripts.

use std::collections::HashSet;

use redis::Value;

use super::error::{EngineError, Result};
use super::job::RawJob;
use super::queue::Queue;
use super::reply::{as_int, as_string, as_strings};

crate::lua_script!(
    /// Jobs of some states with their hashes, skipping removed ids.
    GET_JOBS => ["includes/common.lua", "getJobs.lua"]
);
crate::lua_script!(
    /// Job ids of some states, without their hashes.
    GET_RANGES => ["includes/common.lua", "getRanges.lua"]
);
crate::lua_script!(
    /// Remaining time of the rate limit.
    GET_RATE_LIMIT_TTL => ["includes/common.lua", "getRateLimitTtl.lua"]
);

/// How a job type is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    List,
    SortedSet,
}

/// The key suffix and storage of a job type as BullMQ names types
/// (`waiting` is the `wait` list; `paused` is the legacy 5.x list).
fn state_key(job_type: &str) -> Result<(&'static str, Storage)> {
    Ok(match job_type {
        "waiting" | "wait" => ("wait", Storage::List),
        "paused" => ("paused", Storage::List),
        "active" => ("active", Storage::List),
        "completed" => ("completed", Storage::SortedSet),
        "failed" => ("failed", Storage::SortedSet),
        "delayed" => ("delayed", Storage::SortedSet),
        "prioritized" => ("prioritized", Storage::SortedSet),
        "waiting-children" => ("waiting-children", Storage::SortedSet),
        "repeat" => ("repeat", Storage::SortedSet),
        other => {
            return Err(EngineError::invalid(format!(
                "unknown job type '{other}' (expected one of: completed, failed, delayed, prioritized, \
                 active, waiting, wait, paused, waiting-children, repeat)"
            )))
        }
    })
}

/// What `getJobLogs` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLogs {
    pub logs: Vec<String>,
    pub count: i64,
}

/// Parses one `CLIENT LIST` line (`key=value` pairs separated by spaces).
fn parse_client_line(line: &str) -> Vec<(String, String)> {
    line.split(' ')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect()
}

/// The clients of `CLIENT LIST` output whose name `is_ours` accepts. As
/// BullMQ does, `name` is replaced by the queue name and the client name is
/// kept as `rawname`.
fn clients_from_client_list(
    list: &str,
    queue_name: &str,
    is_ours: impl Fn(&str) -> bool,
) -> Vec<Vec<(String, String)>> {
    list.lines()
        .map(|line| parse_client_line(line.trim_end_matches('\r')))
        .filter_map(|mut fields| {
            let pos = fields.iter().position(|(k, _)| k == "name")?;
            let raw = fields[pos].1.clone();
            if !is_ours(&raw) {
                return None;
            }
            fields[pos].1 = queue_name.to_string();
            fields.push(("rawname".to_string(), raw));
            Some(fields)
        })
        .collect()
}

/// The clients of `CLIENT LIST` output whose name marks them as workers of
/// the queue (`{prefix}:{base64(name)}` or `...:w:{workerName}`).
pub fn workers_from_client_list(list: &str, client_name: &str, queue_name: &str) -> Vec<Vec<(String, String)>> {
    let named_prefix = format!("{client_name}:w:");
    clients_from_client_list(list, queue_name, |raw| raw == client_name || raw.starts_with(&named_prefix))
}

impl Queue {
    /// Number of jobs per type, in the order asked. `waiting` counts the wait
    /// list; a trailing legacy `"0:"` marker entry of wait/paused is not
    /// counted. With `delayed_before`, `delayed` counts only jobs due strictly
    /// before that timestamp.
    pub async fn get_counts(&self, types: &[String], delayed_before: Option<i64>) -> Result<Vec<i64>> {
        let mut pipe = redis::pipe();
        let mut shapes = Vec::with_capacity(types.len());
        for t in types {
            let (suffix, storage) = state_key(t)?;
            let key = self.keys.key(suffix);
            match storage {
                Storage::List => {
                    pipe.cmd("LLEN").arg(&key).cmd("LINDEX").arg(&key).arg(-1);
                }
                Storage::SortedSet => match (suffix, delayed_before) {
                    ("delayed", Some(ts)) => {
                        pipe.cmd("ZCOUNT").arg(&key).arg("-inf").arg(ts.saturating_mul(4096) - 1);
                    }
                    _ => {
                        pipe.cmd("ZCARD").arg(&key);
                    }
                },
            }
            shapes.push(storage);
        }
        let replies: Vec<Value> = pipe.query_async(&mut self.cmd()).await?;
        let mut replies = replies.iter();
        let mut out = Vec::with_capacity(types.len());
        for storage in shapes {
            let n = replies.next().and_then(as_int).unwrap_or(0);
            if storage == Storage::List {
                let tail = replies.next().and_then(as_string);
                let legacy_marker = tail.is_some_and(|t| t.starts_with("0:"));
                out.push(if legacy_marker { (n - 1).max(0) } else { n });
            } else {
                out.push(n);
            }
        }
        Ok(out)
    }

    /// Jobs of the given types, each range `start..=end` read per type, in
    /// BullMQ's order (`asc`: oldest first). A job listed under two types is
    /// returned once.
    pub async fn get_jobs(&self, types: &[String], start: i64, end: i64, asc: bool) -> Result<Vec<RawJob>> {
        let mut inv = self.script(&GET_JOBS);
        inv.arg(start).arg(end).arg(if asc { "1" } else { "0" });
        let mut seen_types = HashSet::new();
        for t in types {
            let (suffix, _) = state_key(t)?;
            if seen_types.insert(suffix) {
                inv.arg(suffix);
            }
        }
        if seen_types.is_empty() {
            return Ok(Vec::new());
        }
        let reply: Vec<Value> = inv.invoke_async(&mut self.cmd()).await?;
        let mut seen = HashSet::new();
        let mut jobs = Vec::new();
        for per_type in &reply {
            let Value::Array(items) = per_type else { continue };
            for pair in items.chunks(2) {
                let [id, fields] = pair else { continue };
                let Some(id) = as_string(id) else { continue };
                if seen.insert(id.clone()) {
                    jobs.push(RawJob::from_flat(id, as_strings(fields)));
                }
            }
        }
        Ok(jobs)
    }

    /// Ids of jobs of the given types, each range `start..=end` read per
    /// type as BullMQ's getRanges reads it (`asc`: oldest first), in the
    /// order of the types, an id listed under two types once. Unlike
    /// `get_jobs`, ids whose job hash is gone are kept and nothing fills in
    /// for them.
    pub async fn get_ranges(&self, types: &[String], start: i64, end: i64, asc: bool) -> Result<Vec<String>> {
        let mut inv = self.script(&GET_RANGES);
        inv.arg(start).arg(end).arg(if asc { "1" } else { "0" });
        for t in types {
            inv.arg(state_key(t)?.0);
        }
        if types.is_empty() {
            return Ok(Vec::new());
        }
        let reply: Vec<Value> = inv.invoke_async(&mut self.cmd()).await?;
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        for per_type in &reply {
            for id in as_strings(per_type) {
                if seen.insert(id.clone()) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    /// Log lines of a job, `start..=end` counted from the oldest line (`asc`)
    /// or from the newest, and the total number of lines.
    pub async fn get_job_logs(&self, job_id: &str, start: i64, end: i64, asc: bool) -> Result<JobLogs> {
        let key = self.keys.logs(job_id);
        let (from, to) = if asc { (start, end) } else { (-(end + 1), -(start + 1)) };
        let (mut logs, count): (Vec<String>, i64) = redis::pipe()
            .cmd("LRANGE")
            .arg(&key)
            .arg(from)
            .arg(to)
            .cmd("LLEN")
            .arg(&key)
            .query_async(&mut self.cmd())
            .await?;
        if !asc {
            logs.reverse();
        }
        Ok(JobLogs { logs, count })
    }

    /// True when the queue is paused globally (`meta.paused` exists).
    pub async fn is_paused(&self) -> Result<bool> {
        let exists: bool = redis::cmd("HEXISTS")
            .arg(self.keys.key("meta"))
            .arg("paused")
            .query_async(&mut self.cmd())
            .await?;
        Ok(exists)
    }

    /// The connections of workers of this queue, from `CLIENT LIST`.
    pub async fn get_workers(&self) -> Result<Vec<Vec<(String, String)>>> {
        let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut self.cmd()).await?;
        Ok(workers_from_client_list(&list, &self.keys.client_name(), self.keys.name()))
    }

    /// The QueueEvents connections of this queue (named
    /// `{prefix}:{base64(name)}:qe`), from `CLIENT LIST`.
    pub async fn get_queue_events(&self) -> Result<Vec<Vec<(String, String)>>> {
        let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut self.cmd()).await?;
        let name = super::events::events_client_name(&self.keys);
        Ok(clients_from_client_list(&list, self.keys.name(), |raw| raw == name))
    }

    /// The server's `INFO` text (one section, or the default ones), as
    /// dashboards read it for their Redis panel.
    pub async fn server_info(&self, section: Option<&str>) -> Result<String> {
        let mut cmd = redis::cmd("INFO");
        if let Some(section) = section {
            cmd.arg(section);
        }
        let info: String = cmd.query_async(&mut self.cmd()).await?;
        Ok(info)
    }

    /// Milliseconds the rate limit still holds: against `max_jobs` when > 0,
    /// else against the global `meta.max`, else the raw PTTL of the limiter.
    pub async fn get_rate_limit_ttl(&self, max_jobs: i64) -> Result<i64> {
        let mut inv = self.script(&GET_RATE_LIMIT_TTL);
        inv.arg(max_jobs.max(0));
        let ttl: i64 = inv.invoke_async(&mut self.cmd()).await?;
        Ok(ttl)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::job::NewJob;
    use crate::engine::test_support::{new_job, raw, test_queue};

    fn job(name: &str, opts: serde_json::Value) -> NewJob {
        NewJob { name: name.into(), ..new_job(opts, 1_700_000_000_000) }
    }

    fn ids(jobs: &[RawJob]) -> Vec<&str> {
        jobs.iter().map(|j| j.id.as_str()).collect()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn server_info_is_the_servers_info_text() {
        let q = test_queue("info").await;
        let all = q.server_info(None).await.unwrap();
        assert!(all.contains("redis_version:"), "{all}");
        assert!(all.contains("connected_clients:"), "{all}");
        let server = q.server_info(Some("server")).await.unwrap();
        assert!(server.contains("tcp_port:"), "{server}");
        assert!(!server.contains("used_memory:"), "{server}");
    }

    #[tokio::test]
    async fn counts_read_lists_and_sets_and_skip_a_legacy_marker() {
        let q = test_queue("counts").await;
        q.add_jobs(&[job("a", json!({})), job("b", json!({})), job("c", json!({"priority": 2}))])
            .await
            .unwrap();
        q.add_jobs(&[job("d", json!({"delay": 1000})), job("e", json!({"delay": 5000}))]).await.unwrap();
        let mut c = raw(&q).await;
        // A v4/early-v5 marker entry at the tail of wait is not a job.
        let _: () = redis::cmd("RPUSH").arg(q.keys().key("wait")).arg("0:123").query_async(&mut c).await.unwrap();
        let counts = q
            .get_counts(&strings(&["waiting", "prioritized", "delayed", "active", "completed"]), None)
            .await
            .unwrap();
        assert_eq!(counts, vec![2, 1, 2, 0, 0]);
        // Only jobs due strictly before the cutoff.
        let due_soon = q.get_counts(&strings(&["delayed"]), Some(1_700_000_002_000)).await.unwrap();
        assert_eq!(due_soon, vec![1]);
        assert!(q.get_counts(&strings(&["meta"]), None).await.is_err());
    }

    #[tokio::test]
    async fn lists_read_oldest_first_when_ascending() {
        let q = test_queue("ranges").await;
        q.add_jobs(&[job("1", json!({})), job("2", json!({})), job("3", json!({}))]).await.unwrap();
        let all = q.get_jobs(&strings(&["waiting"]), 0, -1, true).await.unwrap();
        assert_eq!(ids(&all), vec!["1", "2", "3"]);
        let newest_first = q.get_jobs(&strings(&["wait"]), 0, -1, false).await.unwrap();
        assert_eq!(ids(&newest_first), vec!["3", "2", "1"]);
        let first_two = q.get_jobs(&strings(&["waiting"]), 0, 1, true).await.unwrap();
        assert_eq!(ids(&first_two), vec!["1", "2"]);
        let beyond = q.get_jobs(&strings(&["waiting"]), 5, 9, true).await.unwrap();
        assert!(beyond.is_empty());
        assert_eq!(all[0].get("name"), Some("1"));
    }

    #[tokio::test]
    async fn missing_hashes_are_skipped_and_the_page_is_backfilled() {
        let q = test_queue("backfill").await;
        q.add_jobs(&[job("1", json!({})), job("2", json!({})), job("3", json!({})), job("4", json!({}))])
            .await
            .unwrap();
        let mut c = raw(&q).await;
        let _: () = redis::cmd("DEL").arg(q.keys().job("2")).query_async(&mut c).await.unwrap();
        let page = q.get_jobs(&strings(&["waiting"]), 0, 1, true).await.unwrap();
        assert_eq!(ids(&page), vec!["1", "3"]);
    }

    #[tokio::test]
    async fn sorted_sets_read_by_score_and_duplicates_across_types_appear_once() {
        let q = test_queue("zsets").await;
        q.add_jobs(&[job("late", json!({"delay": 5000})), job("soon", json!({"delay": 1000}))]).await.unwrap();
        let asc = q.get_jobs(&strings(&["delayed"]), 0, -1, true).await.unwrap();
        assert_eq!(ids(&asc), vec!["2", "1"]);
        let desc = q.get_jobs(&strings(&["delayed", "delayed"]), 0, -1, false).await.unwrap();
        assert_eq!(ids(&desc), vec!["1", "2"]);
    }

    #[tokio::test]
    async fn logs_read_in_both_directions_with_the_total() {
        let q = test_queue("logs").await;
        let mut c = raw(&q).await;
        let _: () = redis::cmd("RPUSH").arg(q.keys().logs("7")).arg("a").arg("b").arg("c").query_async(&mut c).await.unwrap();
        let asc = q.get_job_logs("7", 0, 1, true).await.unwrap();
        assert_eq!(asc, JobLogs { logs: strings(&["a", "b"]), count: 3 });
        let desc = q.get_job_logs("7", 0, 1, false).await.unwrap();
        assert_eq!(desc, JobLogs { logs: strings(&["c", "b"]), count: 3 });
        let none = q.get_job_logs("8", 0, -1, true).await.unwrap();
        assert_eq!(none, JobLogs { logs: vec![], count: 0 });
    }

    #[tokio::test]
    async fn rate_limit_ttl_uses_the_given_max_then_meta_max_then_raw_pttl() {
        let q = test_queue("ttl").await;
        assert_eq!(q.get_rate_limit_ttl(0).await.unwrap(), -2);
        let mut c = raw(&q).await;
        let limiter = q.keys().key("limiter");
        let _: () = redis::cmd("SET").arg(&limiter).arg(3).arg("PX").arg(60_000).query_async(&mut c).await.unwrap();
        assert_eq!(q.get_rate_limit_ttl(5).await.unwrap(), 0, "3 of 5 used: not limited");
        let ttl = q.get_rate_limit_ttl(3).await.unwrap();
        assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
        let _: () = redis::cmd("HSET").arg(q.keys().key("meta")).arg("max").arg(10).query_async(&mut c).await.unwrap();
        assert_eq!(q.get_rate_limit_ttl(0).await.unwrap(), 0, "meta.max 10 not reached");
    }

    #[tokio::test]
    async fn workers_are_found_by_client_name() {
        let q = test_queue("workers").await;
        let named = q.connection().open_blocking(Some(&q.keys().worker_client_name(Some("w1"))), "k").await.unwrap();
        let unnamed = q.connection().open_blocking(Some(&q.keys().worker_client_name(None)), "k").await.unwrap();
        let other = q.connection().open_blocking(Some(&format!("{}x", q.keys().client_name())), "k").await.unwrap();
        let workers = q.get_workers().await.unwrap();
        let mut raw_names: Vec<String> = workers
            .iter()
            .map(|w| w.iter().find(|(k, _)| k == "rawname").map(|(_, v)| v.clone()).unwrap_or_default())
            .collect();
        raw_names.sort();
        let mut expected = vec![q.keys().worker_client_name(Some("w1")), q.keys().client_name()];
        expected.sort();
        assert_eq!(raw_names, expected);
        assert!(workers.iter().all(|w| w.iter().any(|(k, v)| k == "name" && v == q.keys().name())));
        drop((named, unnamed, other));
    }

    #[test]
    fn client_list_lines_are_parsed() {
        let list = "id=1 addr=x name=bull:cQ== age=0\nid=2 name=bull:cQ==:w:a\r\nid=3 name=bull:cQ==x\nid=4 name=";
        let found = workers_from_client_list(list, "bull:cQ==", "q");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0][0], ("id".to_string(), "1".to_string()));
        assert!(found[1].contains(&("rawname".to_string(), "bull:cQ==:w:a".to_string())));
    }
}
