//! Redis Cluster: hash slots, BullMQ's one-slot-per-queue rule, and finding
//! the node that serves a queue's slot (where its blocking reads must wait).
//!
//! BullMQ's scripts touch many keys of a queue in one call, and Redis Cluster
//! runs a script only when all its keys live in one slot. So every key of a
//! queue must hash to the same slot: its `prefix:name:` base must hold a
//! complete hash tag (`{bull}` as prefix, or a name such as `{orders}`).

use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::Value;

use super::error::{EngineError, Result};

/// Number of hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

/// The part of `key` Redis hashes: the content of the first `{...}` when it
/// is not empty, else the whole key.
pub fn hashed_part(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The hash slot of `key`, as Redis Cluster computes it.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(hashed_part(key)) % SLOTS
}

/// Whether every key starting with `base` hashes to one slot: `base` holds a
/// complete, non-empty hash tag, so what follows it never counts.
fn base_is_tagged(base: &str) -> bool {
    let b = base.as_bytes();
    let Some(open) = b.iter().position(|&c| c == b'{') else { return false };
    match b[open + 1..].iter().position(|&c| c == b'}') {
        Some(len) => len > 0,
        None => false,
    }
}

/// BullMQ's rule for Redis Cluster: all keys of a queue in one slot. The
/// error says how to follow it, and comes before anything is written.
pub fn check_queue_slot(prefix: &str, name: &str) -> Result<()> {
    let base = format!("{prefix}:{name}:");
    if base_is_tagged(&base) {
        return Ok(());
    }
    Err(EngineError::invalid(format!(
        "Queue \"{name}\" with prefix \"{prefix}\" would spread its keys over several hash slots of the \
         Redis Cluster, where BullMQ's scripts cannot run. Put a hash tag in the prefix \
         (prefix: \"{{{prefix}}}\") or in the queue name (\"{{{name}}}\") so that all its keys share one slot."
    )))
}

/// `host` and `port` of the master that serves `slot`, as the cluster
/// client sees it now (it follows `MOVED` and refreshes its slot map after a
/// failover): the node's own line of its `CLUSTER NODES` names its address.
pub async fn slot_master(conn: &mut ClusterConnection, slot: u16) -> redis::RedisResult<(String, u16)> {
    let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master)));
    let nodes = conn.route_command(redis::cmd("CLUSTER").arg("NODES").to_owned(), route).await?;
    let text = match nodes {
        Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::VerbatimString { text, .. } => text,
        Value::SimpleString(s) => s,
        other => return Err(unexpected(format!("CLUSTER NODES answered {other:?}"))),
    };
    myself_address(&text).ok_or_else(|| unexpected("CLUSTER NODES names no address for the node itself".into()))
}

fn unexpected(message: String) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "unexpected reply", message))
}

/// The address in the `myself` line of `CLUSTER NODES`
/// (`<id> <ip:port@cport[,hostname]> <flags> ...`).
fn myself_address(nodes: &str) -> Option<(String, u16)> {
    let line = nodes.lines().find(|l| l.split(' ').nth(2).is_some_and(|f| f.split(',').any(|x| x == "myself")))?;
    let addr = line.split(' ').nth(1)?;
    let ip_port = addr.split(['@', ',']).next()?;
    let (ip, port) = ip_port.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    Some((ip.to_string(), port.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_redis() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(hashed_part(b"foo{}{bar}"), b"foo{}{bar}", "an empty tag hashes the whole key");
        assert_eq!(hashed_part(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hashed_part(b"foo{bar}{zap}"), b"bar");
    }

    #[test]
    fn a_queue_needs_a_hash_tag() {
        assert!(check_queue_slot("{bull}", "orders").is_ok());
        assert!(check_queue_slot("bull", "{orders}").is_ok());
        assert!(check_queue_slot("my{app}x", "orders").is_ok());
        for (prefix, name) in [("bull", "orders"), ("{}", "orders"), ("bull", "{}"), ("{bull", "orders"), ("bull", "x}")] {
            let err = check_queue_slot(prefix, name).err().map(|e| e.message).unwrap_or_default();
            assert!(err.contains("hash tag"), "{prefix} {name}: {err}");
        }
        let err = check_queue_slot("bull", "orders").err().map(|e| e.message).unwrap_or_default();
        assert!(err.contains("prefix: \"{bull}\"") && err.contains("\"{orders}\""), "{err}");
    }

    #[test]
    fn reads_the_nodes_own_address() {
        let nodes = "07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected\n\
                     67ed 127.0.0.1:30002@40002,host.local myself,master - 0 0 2 connected 5461-10922\n";
        assert_eq!(myself_address(nodes), Some(("127.0.0.1".to_string(), 30002)));
        assert_eq!(myself_address("x ::1:7000@17000 myself,master - 0 0 1 connected"), Some(("::1".into(), 7000)));
    }
}
