//! Job data as it crosses the engine: raw hashes read from Redis, and the
//! stored form of the options a producer passes.

use serde_json::{Map, Value};

use super::error::{EngineError, Result};

/// A job hash as stored in Redis, with its id (the hash has no id field).
#[derive(Debug, Clone, Default)]
pub struct RawJob {
    pub id: String,
    pub fields: Vec<(String, String)>,
}

impl RawJob {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == field).map(|(_, v)| v.as_str())
    }

    /// Builds a job from a flat `HGETALL` reply.
    pub fn from_flat(id: String, flat: Vec<String>) -> Self {
        let mut fields = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            fields.push((k, v));
        }
        Self { id, fields }
    }
}

/// Public option names that BullMQ stores under a short key.
const SHORT_KEYS: &[(&str, &str)] = &[
    ("deduplication", "de"),
    ("failParentOnFailure", "fpof"),
    ("continueParentOnFailure", "cpof"),
    ("ignoreDependencyOnFailure", "idof"),
    ("removeDependencyOnFailure", "rdof"),
    ("keepLogs", "kl"),
];

/// A job to add, after the facade checked and defaulted the options.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub name: String,
    /// JSON text of the data, stored verbatim.
    pub data: String,
    /// Public options (camelCase, as the user wrote them).
    pub opts: Map<String, Value>,
    /// Client time of the add, used when `opts.timestamp` is absent.
    pub now: i64,
}

/// What the add script needs from one job.
#[derive(Debug, Clone)]
pub struct PreparedJob {
    pub custom_id: String,
    pub name: String,
    pub timestamp: i64,
    pub data: String,
    pub stored_opts: String,
    pub delay: i64,
    pub priority: i64,
    pub lifo: bool,
    pub parent_key: String,
    pub parent: String,
}

fn int_opt(opts: &Map<String, Value>, key: &str) -> Result<i64> {
    match opts.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f as i64)
            .ok_or_else(|| EngineError::invalid(format!("opts.{key} must be a number"))),
    }
}

impl NewJob {
    /// Converts the public options into BullMQ's stored form and extracts the
    /// values the add script uses.
    pub fn prepare(&self) -> Result<PreparedJob> {
        let opts = &self.opts;
        let mut stored = Map::with_capacity(opts.len() + 1);
        for (key, value) in opts {
            if value.is_null() {
                continue;
            }
            if key == "telemetry" {
                // Stored flat, as `tm` (metadata) and `omc` (omitContext).
                if let Value::Object(t) = value {
                    for (long, short) in [("metadata", "tm"), ("omitContext", "omc")] {
                        if let Some(v) = t.get(long).filter(|v| !v.is_null()) {
                            stored.insert(short.to_string(), v.clone());
                        }
                    }
                }
                continue;
            }
            let stored_key = SHORT_KEYS
                .iter()
                .find(|(long, _)| long == key)
                .map(|(_, short)| *short)
                .unwrap_or(key.as_str());
            let value = match (key.as_str(), value) {
                ("backoff", Value::Number(n)) => {
                    serde_json::json!({ "type": "fixed", "delay": n })
                }
                _ => value.clone(),
            };
            stored.insert(stored_key.to_string(), value);
        }
        if !stored.contains_key("attempts") {
            stored.insert("attempts".into(), Value::from(0));
        }
        let custom_id = match opts.get("jobId") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => return Err(EngineError::invalid("opts.jobId must be a string")),
        };
        let timestamp = match opts.get("timestamp") {
            None | Some(Value::Null) => self.now,
            Some(_) => int_opt(opts, "timestamp")?,
        };
        let (parent_key, parent) = match opts.get("parent") {
            Some(Value::Object(p)) => {
                let id = p.get("id").and_then(Value::as_str).unwrap_or_default();
                let queue = p.get("queue").and_then(Value::as_str).unwrap_or_default();
                let mut parent = Map::new();
                parent.insert("id".into(), Value::from(id));
                parent.insert("queueKey".into(), Value::from(queue));
                for flag in ["fpof", "rdof", "idof", "cpof"] {
                    if stored.get(flag).and_then(Value::as_bool) == Some(true) {
                        parent.insert(flag.into(), Value::Bool(true));
                    }
                }
                (format!("{queue}:{id}"), Value::Object(parent).to_string())
            }
            _ => (String::new(), String::new()),
        };
        Ok(PreparedJob {
            custom_id,
            name: self.name.clone(),
            timestamp,
            data: self.data.clone(),
            stored_opts: Value::Object(stored).to_string(),
            delay: int_opt(opts, "delay")?.max(0),
            priority: int_opt(opts, "priority")?,
            lifo: opts.get("lifo").and_then(Value::as_bool).unwrap_or(false),
            parent_key,
            parent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stores_options_as_bullmq_does() {
        let job = NewJob {
            name: "n".into(),
            data: "{}".into(),
            opts: json!({"jobId": "myid", "attempts": 3, "backoff": 1000, "keepLogs": 5, "lifo": true})
                .as_object()
                .unwrap()
                .clone(),
            now: 1000,
        };
        let p = job.prepare().unwrap();
        let stored: Value = serde_json::from_str(&p.stored_opts).unwrap();
        assert_eq!(stored["kl"], json!(5));
        assert_eq!(stored["backoff"], json!({"type": "fixed", "delay": 1000}));
        assert_eq!(stored["attempts"], json!(3));
        assert!(stored.get("keepLogs").is_none());
        assert_eq!(p.custom_id, "myid");
        assert!(p.lifo);
        assert_eq!(p.timestamp, 1000);
    }

    #[test]
    fn telemetry_is_stored_as_tm_and_omc() {
        let job = NewJob {
            name: "n".into(),
            data: "{}".into(),
            opts: json!({"telemetry": {"metadata": "m", "omitContext": true}})
                .as_object()
                .unwrap()
                .clone(),
            now: 1,
        };
        let stored: Value = serde_json::from_str(&job.prepare().unwrap().stored_opts).unwrap();
        assert_eq!(stored, json!({"attempts": 0, "tm": "m", "omc": true}));
    }

    #[test]
    fn attempts_default_to_zero() {
        let job = NewJob { name: "n".into(), data: "{}".into(), opts: Map::new(), now: 5 };
        let stored: Value = serde_json::from_str(&job.prepare().unwrap().stored_opts).unwrap();
        assert_eq!(stored, json!({"attempts": 0}));
    }
}
