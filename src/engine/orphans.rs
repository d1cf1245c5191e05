//! `Queue.removeOrphanedJobs`: job keys that no state of the queue holds
//! (left by a crash between writes, or by a tool that deleted state keys),
//! found with SCAN over the queue's keys and removed batch by batch.

use std::collections::HashSet;

use super::error::Result;
use super::keys::{JOB_SUB_KEYS, OTHER_KEY_PREFIXES, QUEUE_KEY_SUFFIXES};
use super::queue::Queue;

crate::lua_script!(
    /// Removes the candidate jobs of one SCAN batch that no state holds.
    REMOVE_ORPHANED_JOBS => ["includes/common.lua", "removeOrphanedJobs.lua"]
);

/// The job id a key under the queue base may belong to, from the key's text
/// after the base: `{id}` or `{id}:{sub-key}` (logs, lock, ...). Queue-level
/// keys and the keys under them (`repeat:{id}`, `de:{id}`, `metrics:...`)
/// are not jobs.
fn candidate(suffix: &str) -> Option<&str> {
    if suffix.is_empty() || QUEUE_KEY_SUFFIXES.contains(&suffix) {
        return None;
    }
    match suffix.split_once(':') {
        None => Some(suffix),
        Some((first, rest)) => {
            let queue_level = QUEUE_KEY_SUFFIXES.contains(&first) || OTHER_KEY_PREFIXES.contains(&first);
            (!queue_level && JOB_SUB_KEYS.contains(&rest)).then_some(first)
        }
    }
}

/// `text` with the glob characters of SCAN's MATCH escaped, so that a queue
/// named `a?` never matches the keys of queue `ab`.
fn glob_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Queue {
    /// Removes jobs whose hash or sub-keys exist while no state (wait,
    /// active, delayed, completed, ...) holds their id: SCANs the queue's
    /// keys `count` at a time and removes each batch's orphans in one script
    /// call. With `limit` > 0, stops after the batch that reached it.
    /// Returns how many job ids were removed (an id whose keys came in two
    /// batches counts twice, as in BullMQ).
    pub async fn remove_orphaned_jobs(&self, count: i64, limit: i64) -> Result<i64> {
        let base = self.keys.base();
        let pattern = format!("{}*", glob_literal(base));
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(count.max(1))
                .query_async(&mut self.cmd())
                .await?;
            cursor = next;
            let mut seen = HashSet::new();
            let mut candidates = Vec::new();
            for key in &keys {
                let Ok(key) = std::str::from_utf8(key) else { continue };
                let Some(id) = key.strip_prefix(base).and_then(candidate) else { continue };
                if seen.insert(id) {
                    candidates.push(id);
                }
            }
            if !candidates.is_empty() {
                let mut inv = self.script(&REMOVE_ORPHANED_JOBS);
                inv.arg(QUEUE_KEY_SUFFIXES.len()).arg(&QUEUE_KEY_SUFFIXES[..]);
                inv.arg(JOB_SUB_KEYS.len()).arg(&JOB_SUB_KEYS[..]);
                inv.arg(candidates);
                let n: i64 = inv.invoke_async(&mut self.cmd()).await?;
                removed += n;
                if limit > 0 && removed >= limit {
                    break;
                }
            }
            if cursor == 0 {
                break;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::test_support::{new_job, raw, test_queue};

    #[test]
    fn job_keys_are_told_from_queue_keys() {
        assert_eq!(candidate("42"), Some("42"));
        assert_eq!(candidate("42:logs"), Some("42"));
        assert_eq!(candidate("abc:lock"), Some("abc"));
        assert_eq!(candidate("42:other"), None);
        assert_eq!(candidate("meta"), None);
        assert_eq!(candidate("failed"), None);
        assert_eq!(candidate("repeat:s1"), None);
        assert_eq!(candidate("repeat:s1:1700000000000"), None);
        assert_eq!(candidate("de:x"), None);
        assert_eq!(candidate("metrics:failed"), None);
        assert_eq!(candidate("dn:logs"), None);
        assert_eq!(candidate(""), None);
        assert_eq!(glob_literal("bull:a?[b]*:"), "bull:a\\?\\[b\\]\\*:");
    }

    #[tokio::test]
    async fn jobs_no_state_holds_are_removed_with_their_keys() {
        let q = test_queue("orphans").await;
        q.add_jobs(&[new_job(json!({}), 1_700_000_000_000), new_job(json!({}), 1_700_000_000_000)])
            .await
            .unwrap();
        let mut c = raw(&q).await;
        // Job 1 loses its place in wait; "ghost" only has a hash and logs.
        let _: () = redis::cmd("LREM").arg(q.keys().key("wait")).arg(0).arg("1").query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("HSET").arg(q.keys().job("ghost")).arg("name").arg("g").query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("RPUSH").arg(q.keys().logs("ghost")).arg("line").query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("RPUSH").arg(q.keys().logs("1")).arg("line").query_async(&mut c).await.unwrap();
        assert_eq!(q.remove_orphaned_jobs(100_000, 0).await.unwrap(), 2);
        for key in [q.keys().job("1"), q.keys().logs("1"), q.keys().job("ghost"), q.keys().logs("ghost")] {
            let exists: i64 = redis::cmd("EXISTS").arg(&key).query_async(&mut c).await.unwrap();
            assert_eq!(exists, 0, "{key}");
        }
        let kept: i64 = redis::cmd("EXISTS").arg(q.keys().job("2")).query_async(&mut c).await.unwrap();
        assert_eq!(kept, 1, "a waiting job stays");
        assert_eq!(q.remove_orphaned_jobs(100_000, 0).await.unwrap(), 0);
    }
}
