//! Key names of a queue, exactly as BullMQ lays them out:
//! `{prefix}:{queueName}:{suffix}` and `{prefix}:{queueName}:{jobId}`.

use base64::Engine as _;

/// The queue-level key suffixes BullMQ's `QueueKeys.getKeys` names (besides
/// the empty one, the base itself). `removeOrphanedJobs` takes no key under
/// these for a job, and searches the states among them for job ids.
pub const QUEUE_KEY_SUFFIXES: [&str; 18] = [
    "active",
    "wait",
    "waiting-children",
    "paused",
    "id",
    "delayed",
    "prioritized",
    "stalled-check",
    "completed",
    "failed",
    "stalled",
    "repeat",
    "limiter",
    "meta",
    "events",
    "pc",
    "marker",
    "de",
];

/// Other first segments of keys BullMQ writes under the base that are not
/// jobs: metrics (`metrics:completed`, ...) and keep-last deduplication
/// payloads (`dn:{id}`).
pub const OTHER_KEY_PREFIXES: [&str; 2] = ["metrics", "dn"];

/// The keys of a job besides its hash: `{jobKey}:{suffix}`.
pub const JOB_SUB_KEYS: [&str; 6] = ["logs", "dependencies", "processed", "failed", "unsuccessful", "lock"];

/// Bull's legacy queue keys, which a job id must not name either.
const LEGACY_QUEUE_KEY_NAMES: [&str; 2] = ["delay", "priority"];

/// Whether `id` names one of the queue's own keys, so that a job with that id
/// cannot be stored: such ids are refused when adding and unknown to getters.
/// Besides the keys themselves, ids under the per-id and metrics keys
/// (`de:{id}`, `dn:{id}`, `metrics:...`) are reserved.
pub fn is_reserved_job_id(id: &str) -> bool {
    let under_key = |first: &str| first == "de" || OTHER_KEY_PREFIXES.contains(&first);
    QUEUE_KEY_SUFFIXES.contains(&id)
        || LEGACY_QUEUE_KEY_NAMES.contains(&id)
        || OTHER_KEY_PREFIXES.contains(&id)
        || id.split_once(':').is_some_and(|(first, _)| under_key(first))
}

/// The error for adding a job with a reserved id.
pub fn reserved_job_id_message(id: &str) -> String {
    format!("JobId {id:?} is the name of a key of the queue: use another id")
}

#[derive(Debug, Clone)]
pub struct QueueKeys {
    prefix: String,
    name: String,
    /// `"{prefix}:{name}:"`, the base every key starts with.
    base: String,
}

impl QueueKeys {
    pub fn new(prefix: &str, name: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            name: name.to_string(),
            base: format!("{prefix}:{name}:"),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `"{prefix}:{name}:"`, passed to scripts that build job keys themselves.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `"{prefix}:{name}"`, BullMQ's `queueQualifiedName` / `queueKey`.
    pub fn qualified_name(&self) -> String {
        format!("{}:{}", self.prefix, self.name)
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}{}", self.base, suffix)
    }

    pub fn job(&self, job_id: &str) -> String {
        format!("{}{}", self.base, job_id)
    }

    pub fn lock(&self, job_id: &str) -> String {
        format!("{}{}:lock", self.base, job_id)
    }

    pub fn logs(&self, job_id: &str) -> String {
        format!("{}{}:logs", self.base, job_id)
    }

    /// The name BullMQ gives a queue's connections (`CLIENT SETNAME`), which is how
    /// `getWorkers()` finds workers: `{prefix}:{base64(queueName)}`.
    pub fn client_name(&self) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(self.name.as_bytes());
        format!("{}:{}", self.prefix, encoded)
    }

    /// Client name of a worker connection, with the worker's `name` option if given.
    pub fn worker_client_name(&self, worker_name: Option<&str>) -> String {
        match worker_name {
            Some(n) if !n.is_empty() => format!("{}:w:{}", self.client_name(), n),
            _ => self.client_name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_name_queue_keys_are_reserved() {
        for id in ["wait", "meta", "events", "id", "repeat", "de:x:y", "metrics:completed:data", "stalled-check"] {
            assert!(is_reserved_job_id(id), "{id}");
        }
        for id in ["job-1", "waiting", "repeat:a:1", "x:meta:y", "wait2", ""] {
            assert!(!is_reserved_job_id(id), "{id}");
        }
    }

    #[test]
    fn keys_follow_bullmq_layout() {
        let k = QueueKeys::new("bull", "t2");
        assert_eq!(k.key("wait"), "bull:t2:wait");
        assert_eq!(k.job("42"), "bull:t2:42");
        assert_eq!(k.lock("42"), "bull:t2:42:lock");
        assert_eq!(k.qualified_name(), "bull:t2");
        assert_eq!(k.worker_client_name(Some("wname")), "bull:dDI=:w:wname");
        assert_eq!(k.worker_client_name(None), "bull:dDI=");
    }
}
