//! Writing flows: every node of one or more trees, in their queues and
//! prefixes, in one atomic script call (lua/addFlow.lua).
//!
//! The order is BullMQ's: its FlowProducer collects the nodes breadth first
//! (all roots, then all their children in order, and so on, across the flows
//! of an addBulk) and adds them one by one in one transaction, each node with
//! children as a parent (into waiting-children), then releases every parent
//! the flows touched that was left with nothing pending. Ids, wait lists and
//! events therefore come out as with the official package.
//!
//! A flow of one node without children is an add like `Queue.add`'s (the
//! same keys and events): when it is the only flow, it goes through the add
//! script, so that what only that script does (deduplication) applies.

use std::collections::HashSet;

use redis::Value;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

use super::Flows;
use crate::engine::error::{EngineError, Result};
use crate::engine::job::{JobToAdd, StoredOpts};
use crate::engine::queue::{now_ms, Queue};
use crate::engine::reply::as_int;

crate::lua_script!(
    /// Adds whole flows, then releases the parents left with nothing pending.
    ADD_FLOW => ["includes/common.lua", "includes/parent.lua", "addFlow.lua"]
);

/// One node of a flow as the facade sends it: the node's queue, its job
/// (data as JSON text, stored verbatim; public options with the queue's
/// defaults applied; the client time of the add) and its children.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowNode {
    pub name: String,
    pub queue_name: String,
    pub prefix: String,
    pub data: Box<RawValue>,
    #[serde(default)]
    pub opts: Map<String, Json>,
    pub timestamp: f64,
    #[serde(default)]
    pub children: Vec<FlowNode>,
}

impl FlowNode {
    /// Flows as the JSON text of an array of nodes.
    pub fn parse_all(text: &str) -> Result<Vec<FlowNode>> {
        serde_json::from_str(text).map_err(|e| EngineError::invalid(format!("flows are not valid JSON: {e}")))
    }

    fn qualified_name(&self) -> String {
        format!("{}:{}", self.prefix, self.queue_name)
    }

    fn count(&self) -> usize {
        1 + self.children.iter().map(FlowNode::count).sum::<usize>()
    }
}

/// The ids of a flow's jobs, in the tree's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTree {
    pub id: String,
    pub children: Vec<IdTree>,
}

impl IdTree {
    /// `[id, [child, ...]]`, children in the same form.
    pub fn to_json(&self) -> Json {
        Json::Array(vec![
            Json::String(self.id.clone()),
            Json::Array(self.children.iter().map(IdTree::to_json).collect()),
        ])
    }
}

/// What became of one flow: its ids, and the error of its root when the
/// root could not be added (missing parent, parent that cannot be replaced).
/// As in BullMQ, the other nodes are written all the same.
#[derive(Debug, Clone)]
pub struct AddedFlow {
    pub ids: IdTree,
    pub error: Option<EngineError>,
}

/// A node ready to be written.
struct Entry<'a> {
    node: &'a FlowNode,
    id: String,
    opts: StoredOpts,
    /// (queue base, id, key) of the parent this entry links to.
    parent: Option<(String, String, String)>,
}

/// A node's id: its `jobId`, or a random UUID (BullMQ's default for flows).
fn node_id(opts: &StoredOpts) -> String {
    if opts.custom_id.is_empty() {
        uuid::Uuid::new_v4().to_string()
    } else {
        opts.custom_id.clone()
    }
}

/// Stored options of a node; a child gets `parent` = its parent's id and
/// queue (the root keeps the parent its options name, if any).
fn stored_opts(node: &FlowNode, parent: Option<(&str, String)>) -> Result<StoredOpts> {
    match parent {
        None => StoredOpts::from_public(&node.opts),
        Some((id, queue)) => {
            let mut opts = node.opts.clone();
            opts.insert("parent".into(), serde_json::json!({ "id": id, "queue": queue }));
            StoredOpts::from_public(&opts)
        }
    }
}

/// Orders the nodes of all flows breadth first, with their ids and options;
/// returns them with each flow's ids.
fn entries(flows: &[FlowNode]) -> Result<(Vec<Entry<'_>>, Vec<IdTree>)> {
    let mut out: Vec<Entry<'_>> = Vec::with_capacity(flows.iter().map(FlowNode::count).sum());
    // Per entry, its place in the id trees: (flow, path of child indexes).
    let mut paths: Vec<(usize, Vec<usize>)> = Vec::new();
    for (f, node) in flows.iter().enumerate() {
        let opts = stored_opts(node, None)?;
        let parent = (!opts.parent_key.is_empty()).then(|| parent_of(&opts));
        out.push(Entry { node, id: node_id(&opts), opts, parent });
        paths.push((f, Vec::new()));
    }
    let mut level = 0..out.len();
    while !level.is_empty() {
        let end = out.len();
        for at in level {
            let (node, id) = (out[at].node, out[at].id.clone());
            let queue = node.qualified_name();
            for (c, child) in node.children.iter().enumerate() {
                let opts = stored_opts(child, Some((&id, queue.clone())))?;
                let parent = Some((format!("{queue}:"), id.clone(), format!("{queue}:{id}")));
                out.push(Entry { node: child, id: node_id(&opts), opts, parent });
                let mut path = paths[at].1.clone();
                path.push(c);
                paths.push((paths[at].0, path));
            }
        }
        level = end..out.len();
    }
    let mut trees: Vec<IdTree> = Vec::with_capacity(flows.len());
    for (entry, (flow, path)) in out.iter().zip(&paths) {
        if path.is_empty() {
            trees.push(IdTree { id: entry.id.clone(), children: Vec::new() });
            continue;
        }
        let mut at = &mut trees[*flow];
        for &c in &path[..path.len() - 1] {
            at = &mut at.children[c];
        }
        at.children.push(IdTree { id: entry.id.clone(), children: Vec::new() });
    }
    Ok((out, trees))
}

/// (queue base, id, key) of the parent named by a root's options.
fn parent_of(opts: &StoredOpts) -> (String, String, String) {
    let parent: Json = serde_json::from_str(&opts.parent).unwrap_or(Json::Null);
    let id = parent["id"].as_str().unwrap_or_default().to_string();
    let queue = parent["queueKey"].as_str().unwrap_or_default();
    (format!("{queue}:"), id, opts.parent_key.clone())
}

impl Flows {
    /// Writes the flows (all their nodes in one atomic call) and returns each
    /// flow's ids; a flow whose root could not be added carries its error.
    pub async fn add(&self, flows: &[FlowNode]) -> Result<Vec<AddedFlow>> {
        if flows.is_empty() {
            return Ok(Vec::new());
        }
        if self.conn.is_cluster() {
            fn check(node: &FlowNode) -> Result<()> {
                crate::engine::cluster::check_queue_slot(&node.prefix, &node.queue_name)?;
                node.children.iter().try_for_each(check)
            }
            flows.iter().try_for_each(check)?;
        }
        if flows.len() == 1 && flows[0].children.is_empty() {
            return Ok(vec![self.add_lone(&flows[0]).await?]);
        }
        let (entries, trees) = entries(flows)?;
        let codes = self.run(&entries).await?;
        let mut out = Vec::with_capacity(trees.len());
        // The roots are the first entries, one per flow.
        for (ids, (entry, code)) in trees.into_iter().zip(entries.iter().zip(&codes)) {
            let error = (*code < 0).then(|| EngineError::from_code(*code, &entry.opts.parent_key, "addJob", ""));
            out.push(AddedFlow { ids, error });
        }
        Ok(out)
    }

    /// A flow of one node without children, added by its queue's add script.
    async fn add_lone(&self, node: &FlowNode) -> Result<AddedFlow> {
        let mut opts = StoredOpts::from_public(&node.opts)?;
        let id = node_id(&opts);
        // The id is the job's; a generated one is not written into `opts`.
        opts.custom_id = id.clone();
        let queue = Queue::new(self.conn.clone(), &node.prefix, &node.queue_name);
        let job = JobToAdd::new(&node.name, node.data.get(), node.timestamp as i64, &opts);
        let error = queue.add_each(&[job]).await?.remove(0).err();
        Ok(AddedFlow { ids: IdTree { id, children: Vec::new() }, error })
    }

    /// One call of the flow script for all entries; the code of each.
    async fn run(&self, entries: &[Entry<'_>]) -> Result<Vec<i64>> {
        let first = entries[0].node;
        let routing = Queue::new(self.conn.clone(), &first.prefix, &first.queue_name);
        let mut bytes = 64;
        for e in entries {
            bytes += 96 + e.node.prefix.len() + e.node.queue_name.len() + e.id.len() + e.node.name.len();
            bytes += e.node.data.get().len() + e.opts.json.len() + e.opts.parent_key.len() + e.opts.parent.len();
        }
        let mut call = routing.script_sized(&ADD_FLOW, 4 + entries.len() * 11, bytes);
        call.arg(now_ms()).arg(entries.len());
        let mut parents: Vec<&(String, String, String)> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for e in entries {
            let kind = if !e.node.children.is_empty() {
                "p"
            } else if e.opts.lifo {
                "l"
            } else {
                "j"
            };
            let timestamp = JobToAdd::new(&e.node.name, "", e.node.timestamp as i64, &e.opts).timestamp;
            call.arg(format!("{}:{}:", e.node.prefix, e.node.queue_name))
                .arg(&e.id)
                .arg(&e.node.name)
                .arg(e.node.data.get())
                .arg(&e.opts.json)
                .arg(timestamp)
                .arg(e.opts.delay)
                .arg(e.opts.priority)
                .arg(kind)
                .arg(&e.opts.parent_key)
                .arg(&e.opts.parent);
            if let Some(p) = &e.parent {
                if seen.insert(p.2.as_str()) {
                    parents.push(p);
                }
            }
        }
        call.arg(parents.len());
        for (base, id, key) in parents {
            call.arg(base).arg(id).arg(key);
        }
        let unexpected = || EngineError::other("unexpected reply from the flow script");
        let Value::Array(items) = call.invoke_async::<Value>(&mut routing.cmd()).await? else {
            return Err(unexpected());
        };
        if items.len() != entries.len() {
            return Err(unexpected());
        }
        items.iter().map(|v| as_int(v).ok_or_else(unexpected)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(queue: &str, children: Vec<serde_json::Value>) -> serde_json::Value {
        serde_json::json!({"name": queue, "queueName": queue, "prefix": "bull", "data": {}, "opts": {}, "timestamp": 1, "children": children})
    }

    #[test]
    fn nodes_are_ordered_breadth_first_across_flows() {
        let text = serde_json::json!([
            node("a", vec![node("a1", vec![node("a11", vec![])]), node("a2", vec![])]),
            node("b", vec![node("b1", vec![])]),
        ])
        .to_string();
        let flows = FlowNode::parse_all(&text).unwrap();
        let (entries, trees) = entries(&flows).unwrap();
        let order: Vec<&str> = entries.iter().map(|e| e.node.queue_name.as_str()).collect();
        assert_eq!(order, vec!["a", "b", "a1", "a2", "b1", "a11"]);
        // Children name their parent in `parent`, with its queue.
        let a1: Json = serde_json::from_str(&entries[2].opts.json).unwrap();
        assert_eq!(a1["parent"], serde_json::json!({"id": entries[0].id, "queue": "bull:a"}));
        assert_eq!(entries[5].opts.parent_key, format!("bull:a1:{}", entries[2].id));
        assert_eq!(trees[0].children[0].children[0].id, entries[5].id);
        assert_eq!(trees[1].children[0].id, entries[4].id);
        assert!(entries[0].parent.is_none());
    }
}
