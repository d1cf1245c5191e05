//! Deduplication (BullMQ's `deduplication` job option): the options an add
//! passes to the add script, and the queue operations on deduplication keys.
//!
//! The decision itself (whether an add is deduplicated, throttled, replaces a
//! delayed job, is kept for later) is made atomically in Lua, in
//! lua/includes/dedup.lua, called by the add script and by the finish step.
//! Keys: `de:{id}` names the job that owns a deduplication id (optionally
//! expiring), `dn:{id}` holds the job kept by `keepLastIfActive`.

use redis::Value;
use serde_json::{Map, Value as Json};

use super::error::{EngineError, Result};
use super::queue::Queue;
use super::reply::{as_int, as_string};

crate::lua_script!(
    /// Deletes a deduplication key only while it names the given job.
    REMOVE_DEDUPLICATION_KEY => ["includes/common.lua", "removeDeduplicationKey.lua"]
);

/// What the add script needs of a job's `deduplication` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupOpts {
    pub id: String,
    /// Expiry of the key in ms; 0 = none.
    pub ttl: i64,
    /// The mode letters the add script reads: `x` extend, `r` replace,
    /// `s` reschedule, `k` keepLastIfActive.
    pub mode: String,
}

/// As BullMQ's scripts read an option: set unless absent, null or false.
fn is_set(opts: &Map<String, Json>, key: &str) -> bool {
    !matches!(opts.get(key), None | Some(Json::Null) | Some(Json::Bool(false)))
}

impl DedupOpts {
    /// From the public `deduplication` option; `None` without an id (such an
    /// option deduplicates nothing, as in BullMQ's scripts).
    pub fn from_public(option: Option<&Json>) -> Result<Option<Self>> {
        let Some(Json::Object(o)) = option else {
            return Ok(None);
        };
        let id = match o.get("id") {
            Some(Json::String(s)) if !s.is_empty() => s.clone(),
            Some(Json::Number(n)) => n.to_string(),
            _ => return Ok(None),
        };
        let ttl = match o.get("ttl") {
            None | Some(Json::Null) => 0,
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f as i64)
                .ok_or_else(|| EngineError::invalid("opts.deduplication.ttl must be a number"))?,
        };
        let mut mode = String::new();
        for (key, letter) in [("extend", 'x'), ("replace", 'r'), ("reschedule", 's'), ("keepLastIfActive", 'k')] {
            if is_set(o, key) {
                mode.push(letter);
            }
        }
        Ok(Some(Self { id, ttl: ttl.max(0), mode }))
    }
}

/// The stored form of the option (`opts.de`): as given, without null members
/// (BullMQ's encoding drops them).
pub fn stored_option(option: &Map<String, Json>) -> Json {
    Json::Object(option.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The add script's mark for a deduplicated job: `{ownerId}`, the id of the
/// job that owns the deduplication id. `None` for any other mark.
pub fn deduplicated_owner(mark: &Value) -> Option<String> {
    match mark {
        Value::Array(items) if items.len() == 1 => as_string(&items[0]),
        _ => None,
    }
}

impl Queue {
    /// The id of the job that owns deduplication id `dedup_id`, if any.
    pub async fn deduplication_job_id(&self, dedup_id: &str) -> Result<Option<String>> {
        let key = self.keys().key(&format!("de:{dedup_id}"));
        Ok(redis::cmd("GET").arg(key).query_async(&mut self.cmd()).await?)
    }

    /// Deletes the key of deduplication id `dedup_id` whichever job owns it,
    /// so that the next add with that id is added; the number of keys deleted.
    pub async fn remove_deduplication_key(&self, dedup_id: &str) -> Result<i64> {
        let key = self.keys().key(&format!("de:{dedup_id}"));
        Ok(redis::cmd("DEL").arg(key).query_async(&mut self.cmd()).await?)
    }

    /// Deletes the key of deduplication id `dedup_id` only while it names
    /// `job_id`; true when deleted.
    pub async fn remove_deduplication_key_of(&self, dedup_id: &str, job_id: &str) -> Result<bool> {
        let reply: Value = self
            .script(&REMOVE_DEDUPLICATION_KEY)
            .arg(dedup_id)
            .arg(job_id)
            .invoke_async(&mut self.cmd())
            .await?;
        Ok(as_int(&reply).unwrap_or(0) > 0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::queue::Added;
    use crate::engine::test_support::{add_both_ways, dump, new_job, raw, stream_entries, test_queue};

    fn opts(v: Json) -> Option<DedupOpts> {
        DedupOpts::from_public(Some(&v)).unwrap()
    }

    #[test]
    fn options_become_id_ttl_and_mode_letters() {
        assert_eq!(opts(json!({"id": "a"})), Some(DedupOpts { id: "a".into(), ttl: 0, mode: String::new() }));
        assert_eq!(
            opts(json!({"id": "a", "ttl": 1500.9, "extend": true, "replace": 1, "reschedule": false,
                "keepLastIfActive": true})),
            Some(DedupOpts { id: "a".into(), ttl: 1500, mode: "xrk".into() })
        );
        assert_eq!(opts(json!({"id": 7, "ttl": -5})), Some(DedupOpts { id: "7".into(), ttl: 0, mode: String::new() }));
        assert_eq!(opts(json!({"ttl": 5})), None);
        assert_eq!(opts(json!({"id": ""})), None);
        assert_eq!(DedupOpts::from_public(None).unwrap(), None);
        assert!(DedupOpts::from_public(Some(&json!({"id": "a", "ttl": "5"}))).is_err());
        let given = json!({"id": "a", "ttl": null, "extend": true});
        assert_eq!(stored_option(given.as_object().unwrap()), json!({"id": "a", "extend": true}));
    }

    fn dedup_job(name: &str, de: Json, more: Json, now: i64) -> crate::engine::job::NewJob {
        let mut o = more.as_object().cloned().unwrap_or_default();
        o.insert("deduplication".into(), de);
        crate::engine::job::NewJob { name: name.into(), ..new_job(Json::Object(o), now) }
    }

    #[tokio::test]
    async fn a_second_add_returns_the_owner_and_adds_nothing() {
        let q = test_queue("dedup-simple").await;
        let t = 1_700_000_000_000;
        let added = q
            .add_jobs(&[
                dedup_job("a", json!({"id": "d"}), json!({}), t),
                dedup_job("b", json!({"id": "d"}), json!({}), t),
                new_job(json!({}), t),
            ])
            .await
            .unwrap();
        let ids: Vec<&str> = added.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["1", "1", "3"]);
        assert_eq!(added[1], Added { id: "1".into(), duplicated: false });
        assert_eq!(q.deduplication_job_id("d").await.unwrap().as_deref(), Some("1"));
        let mut c = raw(&q).await;
        let deid: Option<String> = redis::cmd("HGET").arg(q.keys().job("1")).arg("deid").query_async(&mut c).await.unwrap();
        assert_eq!(deid.as_deref(), Some("d"));
        let exists: i64 = redis::cmd("EXISTS").arg(q.keys().job("2")).query_async(&mut c).await.unwrap();
        assert_eq!(exists, 0);
        let entries = stream_entries(&q).await;
        assert!(entries.contains(&["event", "deduplicated", "jobId", "1", "deduplicationId", "d", "deduplicatedJobId", "2"]
            .map(String::from)
            .to_vec()));
        // Only the owner may remove the key through the job.
        assert!(!q.remove_deduplication_key_of("d", "2").await.unwrap());
        assert!(q.remove_deduplication_key_of("d", "1").await.unwrap());
        assert_eq!(q.remove_deduplication_key("d").await.unwrap(), 0);
        assert_eq!(q.deduplication_job_id("d").await.unwrap(), None);
    }

    #[tokio::test]
    async fn one_call_leaves_what_adding_one_by_one_leaves_with_deduplication() {
        let t = 1_700_000_000_000;
        let jobs = vec![
            dedup_job("a", json!({"id": "s"}), json!({}), t),
            dedup_job("b", json!({"id": "s"}), json!({"lifo": true}), t),
            dedup_job("c", json!({"id": "r", "replace": true}), json!({"delay": 5000}), t),
            dedup_job("d", json!({"id": "r", "replace": true}), json!({"delay": 6000}), t),
            dedup_job("e", json!({"id": "x", "ttl": 60000, "extend": true}), json!({"priority": 2}), t),
            dedup_job("f", json!({"id": "x", "ttl": 60000, "extend": true}), json!({}), t),
            dedup_job("g", json!({"id": "v", "reschedule": true}), json!({"delay": 1000}), t),
            dedup_job("h", json!({"id": "v", "reschedule": true}), json!({"delay": 9000}), t),
            new_job(json!({}), t),
        ];
        let ((bulk, together), (single, one_by_one)) = add_both_ways("dedup-same", &jobs).await;
        assert_eq!(together, one_by_one);
        let ids: Vec<&str> = together.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["1", "1", "3", "4", "5", "5", "7", "7", "9"]);
        assert_eq!(dump(&bulk).await, dump(&single).await);
    }
}
