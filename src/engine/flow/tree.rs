//! Reading a flow back (BullMQ's `getFlow`): a job with its children, down
//! to a depth, each node's children as BullMQ finds them: up to about
//! `maxChildren` of each kind (processed, pending, failed, ignored, in that
//! order), read with the same commands.

use std::future::Future;
use std::pin::Pin;

use futures_util::future::join_all;
use redis::Value;
use serde_json::{json, Value as Json};

use super::{parse_job_key, Flows};
use crate::engine::error::{EngineError, Result};
use crate::engine::reply::as_strings;

/// Levels `getFlow` reads when not told (BullMQ's default).
pub const DEFAULT_DEPTH: i64 = 10;
/// Children of each kind `getFlow` reads per node when not told.
pub const DEFAULT_MAX_CHILDREN: i64 = 20;

/// A node of a flow read back: the job's queue, its hash, and its children
/// when there are some and the depth allows (a child whose job is gone is
/// `None`, as BullMQ leaves `undefined` in its place).
#[derive(Debug, Clone)]
pub struct FlowTree {
    pub prefix: String,
    pub queue_name: String,
    pub id: String,
    /// Flat `[field, value, ...]` of the job hash.
    pub fields: Vec<String>,
    pub children: Option<Vec<Option<FlowTree>>>,
}

impl FlowTree {
    /// `{prefix, queueName, id, fields, children?}`, a missing child `null`.
    pub fn to_json(&self) -> Json {
        let mut node = json!({
            "prefix": self.prefix,
            "queueName": self.queue_name,
            "id": self.id,
            "fields": self.fields,
        });
        if let Some(children) = &self.children {
            node["children"] =
                Json::Array(children.iter().map(|c| c.as_ref().map_or(Json::Null, FlowTree::to_json)).collect());
        }
        node
    }
}

type NodeFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<FlowTree>>> + Send + 'a>>;

/// The keys of a scan reply's items (every other item of a hash scan).
fn scan_items(v: &Value, step: usize) -> Result<Vec<String>> {
    match v {
        Value::Array(parts) if parts.len() == 2 => Ok(as_strings(&parts[1]).into_iter().step_by(step).collect()),
        _ => Err(EngineError::other("unexpected scan reply")),
    }
}

impl Flows {
    /// The flow whose root is job `id` of queue `queue_name` in `prefix`,
    /// `depth` levels deep, about `max_children` of each kind per node;
    /// `None` when the job does not exist.
    pub async fn get_flow(
        &self,
        prefix: &str,
        queue_name: &str,
        id: &str,
        depth: i64,
        max_children: i64,
    ) -> Result<Option<FlowTree>> {
        if max_children < 1 {
            return Err(EngineError::invalid(format!("maxChildren must be at least 1, got {max_children}")));
        }
        self.node(prefix.to_string(), queue_name.to_string(), id.to_string(), depth, max_children).await
    }

    fn node(&self, prefix: String, queue_name: String, id: String, depth: i64, max: i64) -> NodeFuture<'_> {
        Box::pin(async move {
            let key = format!("{prefix}:{queue_name}:{id}");
            let (hash, processed, pending, failed, ignored): (Vec<String>, Value, Value, Vec<String>, Value) =
                redis::pipe()
                    .cmd("HGETALL")
                    .arg(&key)
                    .cmd("HSCAN")
                    .arg(format!("{key}:processed"))
                    .arg(0)
                    .arg("COUNT")
                    .arg(max)
                    .cmd("SSCAN")
                    .arg(format!("{key}:dependencies"))
                    .arg(0)
                    .arg("COUNT")
                    .arg(max)
                    .cmd("ZRANGE")
                    .arg(format!("{key}:unsuccessful"))
                    .arg(0)
                    .arg(max - 1)
                    .cmd("HSCAN")
                    .arg(format!("{key}:failed"))
                    .arg(0)
                    .arg("COUNT")
                    .arg(max)
                    .query_async(&mut self.conn.commands_for(&key))
                    .await?;
            if hash.is_empty() {
                return Ok(None);
            }
            let mut keys = scan_items(&processed, 2)?;
            keys.extend(scan_items(&pending, 1)?);
            keys.extend(failed);
            keys.extend(scan_items(&ignored, 2)?);
            let depth = depth - 1;
            let children = if keys.is_empty() || depth == 0 {
                None
            } else {
                let reads = keys.into_iter().map(|k| {
                    let (p, q, i) = parse_job_key(&k);
                    self.node(p, q, i, depth, max)
                });
                Some(join_all(reads).await.into_iter().collect::<Result<Vec<_>>>()?)
            };
            Ok(Some(FlowTree { prefix, queue_name, id, fields: hash, children }))
        })
    }
}
