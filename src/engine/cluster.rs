//! Redis Cluster: hash slots, BullMQ's one-slot-per-queue rule, and finding
//! the node that serves a queue's slot (where its blocking reads must wait).
//!
//! BullMQ's scripts touch many keys of a queue in one call, and Redis Cluster
//! runs a script only when all its keys live in one slot. So every key of a
//! queue must hash to the same slot: its `prefix:name:` base must hold a
//! complete hash tag (`{bull}` as prefix, or a name such as `{orders}`).

use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
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

/// `host` and `port` of the master that serves `slot`, as a live node of
/// the cluster says (`CLUSTER SLOTS`). Not through the client's own slot
/// map: while a master fails over, the client sends a request for a node it
/// lost to another node of the shard, or any node, which would then name
/// itself. A node whose view is stale names a dead master, whose connect
/// fails, or a demoted one, which answers `MOVED`: the caller opens again.
pub async fn slot_master(conn: &mut ClusterConnection, slot: u16) -> redis::RedisResult<(String, u16)> {
    let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
    let slots = conn.route_command(redis::cmd("CLUSTER").arg("SLOTS").to_owned(), route).await?;
    master_of(&slots, slot).ok_or_else(|| unexpected(format!("CLUSTER SLOTS names no master for slot {slot}")))
}

fn unexpected(message: String) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "unexpected reply", message))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

/// The master of `slot` in a `CLUSTER SLOTS` reply: `[[start, end, [ip,
/// port, id, ...], replicas...], ...]`, the master first.
fn master_of(reply: &Value, slot: u16) -> Option<(String, u16)> {
    let Value::Array(ranges) = reply else { return None };
    ranges.iter().find_map(|range| {
        let Value::Array(r) = range else { return None };
        let (start, end) = (int(r.first()?)?, int(r.get(1)?)?);
        if !(start..=end).contains(&i64::from(slot)) {
            return None;
        }
        let Value::Array(master) = r.get(2)? else { return None };
        let host = text(master.first()?)?;
        let port = u16::try_from(int(master.get(1)?)?).ok()?;
        Some((host, port))
    })
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
    fn finds_the_master_of_a_slot() {
        let node = |ip: &str, port: i64| {
            Value::Array(vec![Value::BulkString(ip.into()), Value::Int(port), Value::BulkString(b"id".to_vec())])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![Value::Int(0), Value::Int(5460), node("127.0.0.1", 7000), node("127.0.0.1", 7003)]),
            Value::Array(vec![Value::Int(5461), Value::Int(16383), node("127.0.0.1", 7001)]),
        ]);
        assert_eq!(master_of(&reply, 0), Some(("127.0.0.1".to_string(), 7000)));
        assert_eq!(master_of(&reply, 5461), Some(("127.0.0.1".to_string(), 7001)));
        assert_eq!(master_of(&Value::Array(vec![]), 3), None);
    }
}
