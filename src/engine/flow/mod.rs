//! Flows: trees of jobs whose parents wait for their children, in any queues
//! and prefixes (BullMQ's FlowProducer and the parent/child methods of Job).
//!
//! - `insert`: writing whole flows in one atomic script call.
//! - `tree`: reading a flow back (`getFlow`).
//! - `dependencies`: a parent's children (values, pages, counts) and the
//!   moves that change the links (waiting-children, removing children or the
//!   link to a parent).
//!
//! The child -> parent bookkeeping done when a child finishes lives in
//! lua/includes/parent.lua, used by the finish scripts.

pub mod dependencies;
pub mod insert;
pub mod tree;

use super::connection::Connection;

pub use dependencies::{DependencyPage, DependencyPages, Dependencies};
pub use insert::{AddedFlow, FlowNode, IdTree};
pub use tree::FlowTree;

/// A producer of flows: one connection, no queue of its own (each node names
/// its queue and prefix).
#[derive(Clone)]
pub struct Flows {
    conn: Connection,
}

impl Flows {
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// Splits a full job key `{prefix}:{queue}:{id}` into (prefix, queue, id) as
/// BullMQ does: the id after the last colon, the queue before it, the prefix
/// (which may hold colons) before that.
pub fn parse_job_key(key: &str) -> (String, String, String) {
    let Some(last) = key.rfind(':') else {
        return (key.to_string(), String::new(), String::new());
    };
    let Some(prev) = key[..last].rfind(':') else {
        return (key[..last].to_string(), key[last + 1..].to_string(), String::new());
    };
    (key[..prev].to_string(), key[prev + 1..last].to_string(), key[last + 1..].to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_job_key;

    #[test]
    fn job_keys_split_at_their_last_two_colons() {
        let parts = |k: &str| {
            let (p, q, i) = parse_job_key(k);
            (p, q, i)
        };
        assert_eq!(parts("bull:q:1"), ("bull".into(), "q".into(), "1".into()));
        assert_eq!(parts("{a}:b:q:x"), ("{a}:b".into(), "q".into(), "x".into()));
        assert_eq!(parts("a:b"), ("a".into(), "b".into(), "".into()));
        assert_eq!(parts("plain"), ("plain".into(), "".into(), "".into()));
    }
}
