//! `BindingFlowProducer`: the native half of `FlowProducer`; and the
//! parent/child methods of `Job` on `BindingQueue`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::IntoNapi;
use super::queue::BindingQueue;
use super::types::BindingConnectionOptions;
use crate::engine::connection::Connection;
use crate::engine::flow::tree::{DEFAULT_DEPTH, DEFAULT_MAX_CHILDREN};
use crate::engine::flow::{DependencyPage, DependencyPages, FlowNode, Flows};
use crate::engine::queue::{now_ms, Queue};

#[napi]
pub struct BindingFlowProducer {
    flows: Flows,
}

/// Connects and returns the native handle of a FlowProducer.
#[napi]
pub async fn open_flow_producer(connection: BindingConnectionOptions) -> Result<BindingFlowProducer> {
    super::init_logging();
    let conn = Connection::shared(connection.into()).await.napi()?;
    Ok(BindingFlowProducer { flows: Flows::new(conn) })
}

#[napi]
impl BindingFlowProducer {
    /// Adds flows given as the JSON text of an array of nodes `{name,
    /// queueName, prefix, data, opts, timestamp, children}` (see
    /// `FlowNode`), all in one atomic step; resolves with the JSON text of
    /// their ids, each flow as `[id, [child, ...]]`. With `strict`, rejects
    /// with the error of the first flow whose root could not be added.
    #[napi]
    pub async fn add_flows(&self, flows: String, strict: bool) -> Result<String> {
        let nodes = FlowNode::parse_all(&flows).napi()?;
        let added = self.flows.add(&nodes).await.napi()?;
        if strict {
            if let Some(err) = added.iter().find_map(|a| a.error.clone()) {
                return Err(err).napi();
            }
        }
        let ids: Vec<serde_json::Value> = added.iter().map(|a| a.ids.to_json()).collect();
        Ok(serde_json::Value::Array(ids).to_string())
    }

    /// The flow whose root is job `id` of queue `queueName` in `prefix`, as
    /// JSON text `{prefix, queueName, id, fields, children?}` (a missing
    /// child is `null`); null when the job does not exist.
    #[napi]
    pub async fn get_flow(
        &self,
        prefix: String,
        queue_name: String,
        id: String,
        depth: Option<i64>,
        max_children: Option<i64>,
    ) -> Result<Option<String>> {
        let depth = depth.unwrap_or(DEFAULT_DEPTH);
        let max_children = max_children.unwrap_or(DEFAULT_MAX_CHILDREN);
        let tree = self.flows.get_flow(&prefix, &queue_name, &id, depth, max_children).await.napi()?;
        Ok(tree.map(|t| t.to_json().to_string()))
    }

    /// The handle of a queue on this producer's connection, for the jobs of
    /// its flows.
    #[napi]
    pub async fn queue(&self, prefix: String, name: String) -> Result<BindingQueue> {
        Ok(BindingQueue::on_queue(Queue::checked(self.flows.connection().clone(), &prefix, &name).napi()?))
    }

    /// Closes the connection; later calls fail with "Connection is closed.".
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.flows.connection().close();
    }
}

/// A page of one kind of children (defaults: cursor 0, count 20).
#[napi(object)]
pub struct BindingDependencyPage {
    pub cursor: Option<i64>,
    pub count: Option<i64>,
}

/// The kinds of children `getDependencies` pages through; none = all.
#[napi(object)]
pub struct BindingDependencyPages {
    pub processed: Option<BindingDependencyPage>,
    pub unprocessed: Option<BindingDependencyPage>,
    pub ignored: Option<BindingDependencyPage>,
    pub failed: Option<BindingDependencyPage>,
}

fn page(p: Option<BindingDependencyPage>) -> Option<DependencyPage> {
    p.map(|p| DependencyPage { cursor: p.cursor, count: p.count })
}

/// A job's children by kind (only the kinds read); processed and ignored as
/// flat `[childKey, value, ...]` lists; next cursors of paged reads.
#[napi(object)]
pub struct BindingDependencies {
    pub processed: Option<Vec<String>>,
    pub next_processed_cursor: Option<i64>,
    pub unprocessed: Option<Vec<String>>,
    pub next_unprocessed_cursor: Option<i64>,
    pub ignored: Option<Vec<String>>,
    pub next_ignored_cursor: Option<i64>,
    pub failed: Option<Vec<String>>,
    pub next_failed_cursor: Option<i64>,
}

fn flat(pairs: Vec<(String, String)>) -> Vec<String> {
    pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()
}

#[napi]
impl BindingQueue {
    /// Return values (JSON text) of the job's completed children, as a flat
    /// `[childKey, value, ...]` list.
    #[napi]
    pub async fn get_children_values(&self, id: String) -> Result<Vec<String>> {
        Ok(flat(self.queue.children_values(&id).await.napi()?))
    }

    /// Failure reasons of the children whose failure the job ignored, flat.
    #[napi]
    pub async fn get_ignored_children_failures(&self, id: String) -> Result<Vec<String>> {
        Ok(flat(self.queue.ignored_children_failures(&id).await.napi()?))
    }

    #[napi]
    pub async fn get_dependencies(&self, id: String, pages: Option<BindingDependencyPages>) -> Result<BindingDependencies> {
        let pages = pages
            .map(|p| DependencyPages {
                processed: page(p.processed),
                unprocessed: page(p.unprocessed),
                ignored: page(p.ignored),
                failed: page(p.failed),
            })
            .unwrap_or_default();
        let d = self.queue.dependencies(&id, &pages).await.napi()?;
        Ok(BindingDependencies {
            processed: d.processed.map(flat),
            next_processed_cursor: d.next_processed_cursor,
            unprocessed: d.unprocessed,
            next_unprocessed_cursor: d.next_unprocessed_cursor,
            ignored: d.ignored.map(flat),
            next_ignored_cursor: d.next_ignored_cursor,
            failed: d.failed,
            next_failed_cursor: d.next_failed_cursor,
        })
    }

    /// Counts of the job's children per kind, in the order given.
    #[napi]
    pub async fn get_dependency_counts(&self, id: String, kinds: Vec<String>) -> Result<Vec<i64>> {
        self.queue.dependency_counts(&id, &kinds).await.napi()
    }

    /// Moves an active job to waiting-children while it has a pending child
    /// (`childKey`, or any); false when it has none.
    #[napi]
    pub async fn move_to_waiting_children(&self, id: String, token: String, child_key: Option<String>) -> Result<bool> {
        self.queue.move_to_waiting_children(&id, &token, child_key.as_deref(), now_ms()).await.napi()
    }

    /// Detaches a pending child from its parent; false when it was not
    /// pending for it.
    #[napi]
    pub async fn remove_child_dependency(&self, id: String, parent_key: String) -> Result<bool> {
        self.queue.remove_child_dependency(&id, &parent_key, now_ms()).await.napi()
    }

    /// Removes the job's pending children (not locked, not failed).
    #[napi]
    pub async fn remove_unprocessed_children(&self, id: String) -> Result<()> {
        self.queue.remove_unprocessed_children(&id, now_ms()).await.napi()
    }
}
