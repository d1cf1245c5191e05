//! A queue handle: its keys and the shared command connection. Producer
//! operations live here; operations on active jobs are in `active.rs`.

use redis::Value;

use super::connection::{Commands, Connection};
use super::error::{EngineError, Result};
use super::job::{NewJob, RawJob};
use super::keys::QueueKeys;
use super::reply::{as_int, as_string};
use super::scripts;

/// Result of adding one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub id: String,
    /// The custom id existed already; nothing was added.
    pub duplicated: bool,
}

#[derive(Clone)]
pub struct Queue {
    pub(crate) conn: Connection,
    pub(crate) keys: QueueKeys,
}

/// Current client time in milliseconds, the clock BullMQ scores with.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Queue {
    pub fn new(conn: Connection, prefix: &str, name: &str) -> Self {
        tracing::debug!(prefix, queue = name, "queue opened");
        Self { conn, keys: QueueKeys::new(prefix, name) }
    }

    pub fn keys(&self) -> &QueueKeys {
        &self.keys
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn cmd(&self) -> Commands {
        self.conn.manager()
    }

    /// Runs one of our scripts with the queue's routing key and base prefix
    /// as the first key and argument.
    pub(crate) fn script<'a>(&self, script: &'a redis::Script) -> redis::ScriptInvocation<'a> {
        let mut inv = script.prepare_invoke();
        inv.key(self.keys.key("meta")).arg(self.keys.base());
        inv
    }

    /// Adds jobs in one script call; the result is in input order.
    pub async fn add_jobs(&self, jobs: &[NewJob]) -> Result<Vec<Added>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = self.script(&scripts::ADD_JOBS);
        inv.arg(jobs.len());
        for job in jobs {
            let p = job.prepare()?;
            inv.arg(p.custom_id)
                .arg(p.name)
                .arg(p.timestamp)
                .arg(p.data)
                .arg(p.stored_opts)
                .arg(p.delay)
                .arg(p.priority)
                .arg(if p.lifo { "1" } else { "0" })
                .arg(p.parent_key)
                .arg(p.parent);
        }
        let reply: Vec<Value> = inv.invoke_async(&mut self.cmd()).await?;
        let mut out = Vec::with_capacity(jobs.len());
        for (i, pair) in reply.chunks(2).enumerate() {
            if let Value::Int(code) = pair[0] {
                if code < 0 {
                    let parent = jobs[i]
                        .opts
                        .get("parent")
                        .map(|p| {
                            format!(
                                "{}:{}",
                                p.get("queue").and_then(|v| v.as_str()).unwrap_or_default(),
                                p.get("id").and_then(|v| v.as_str()).unwrap_or_default()
                            )
                        })
                        .unwrap_or_default();
                    return Err(EngineError::from_code(code, &parent, "addJob", ""));
                }
            }
            out.push(Added {
                id: as_string(&pair[0]).unwrap_or_default(),
                duplicated: as_int(&pair[1]) == Some(1),
            });
        }
        Ok(out)
    }

    /// The job hash, or `None` when the job does not exist.
    pub async fn get_job(&self, id: &str) -> Result<Option<RawJob>> {
        let flat: Vec<String> =
            redis::cmd("HGETALL").arg(self.keys.job(id)).query_async(&mut self.cmd()).await?;
        if flat.is_empty() {
            return Ok(None);
        }
        Ok(Some(RawJob::from_flat(id.to_string(), flat)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::active::FetchSettings;
    use crate::engine::reply::Fetched;
    use crate::engine::test_support::{new_job, raw, test_queue};

    fn job(opts: serde_json::Value) -> NewJob {
        new_job(opts, 1_700_000_000_000)
    }

    #[tokio::test]
    async fn delayed_jobs_get_fifo_scores_within_one_millisecond() {
        let q = test_queue("scores").await;
        let added = q.add_jobs(&[job(json!({"delay": 1000})), job(json!({"delay": 1000}))]).await.unwrap();
        let mut c = raw(&q).await;
        let scores: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(q.keys().key("delayed"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await
            .unwrap();
        let base = (1_700_000_000_000i64 + 1000) as f64 * 4096.0;
        assert_eq!(scores, vec![(added[0].id.clone(), base), (added[1].id.clone(), base + 1.0)]);
        let marker: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(q.keys().key("marker"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(marker, vec![("1".to_string(), 1_700_000_001_000.0)]);
    }

    #[tokio::test]
    async fn prioritized_jobs_score_priority_times_two_pow_32_plus_counter() {
        let q = test_queue("prio").await;
        let added = q.add_jobs(&[job(json!({"priority": 3})), job(json!({"priority": 1}))]).await.unwrap();
        let mut c = raw(&q).await;
        let scores: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(q.keys().key("prioritized"))
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(
            scores,
            vec![
                (added[1].id.clone(), 4294967296.0 + 2.0),
                (added[0].id.clone(), 3.0 * 4294967296.0 + 1.0)
            ]
        );
        // The lowest score runs first.
        let fetched = q.move_to_active("tok", &FetchSettings::default(), 1).await.unwrap();
        let Fetched::Job(j) = fetched else { panic!("expected a job, got {fetched:?}") };
        assert_eq!(j.id, added[1].id);
    }

    #[tokio::test]
    async fn an_existing_custom_id_adds_nothing() {
        let q = test_queue("dup").await;
        let first = q.add_jobs(&[job(json!({"jobId": "a"}))]).await.unwrap();
        let second = q.add_jobs(&[job(json!({"jobId": "a"}))]).await.unwrap();
        assert!(!first[0].duplicated);
        assert!(second[0].duplicated);
        let mut c = raw(&q).await;
        let len: i64 = redis::cmd("LLEN").arg(q.keys().key("wait")).query_async(&mut c).await.unwrap();
        assert_eq!(len, 1);
    }
}
