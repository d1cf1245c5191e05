//! A queue handle: its keys and the shared command connection. Producer
//! operations live here; operations on active jobs are in `active.rs`.

use redis::aio::ConnectionManager;
use redis::Value;

use super::connection::Connection;
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
        Self { conn, keys: QueueKeys::new(prefix, name) }
    }

    pub fn keys(&self) -> &QueueKeys {
        &self.keys
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn cmd(&self) -> ConnectionManager {
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
