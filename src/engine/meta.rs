//! The queue-wide settings BullMQ keeps in the `meta` hash (global
//! concurrency, global rate limit, pause flag, events stream length,
//! version), what is read from it (`getMeta`, `isMaxed`), the small
//! maintenance deletes of queue keys, and custom events published on the
//! queue's events stream (QueueEventsProducer).

use redis::Value;

use super::error::{EngineError, Result};
use super::queue::Queue;
use super::reply::as_string;

/// The `meta` fields that hold numbers, as `getMeta` reports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetaInfo {
    pub concurrency: Option<f64>,
    pub max: Option<f64>,
    pub duration: Option<f64>,
    pub max_len_events: Option<f64>,
    /// True only when the `paused` field is `"1"` (BullMQ's getMeta reading;
    /// workers treat any value as paused).
    pub paused: bool,
    /// Every other field as stored (for example `version`).
    pub rest: Vec<(String, String)>,
}

/// A global rate limit: at most `max` jobs per `duration` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GlobalRateLimit {
    pub max: f64,
    pub duration: f64,
}

/// Reads a meta value as BullMQ's `Number(value)` does for fields that are
/// set (BullMQ treats an empty string as not set).
fn number(value: &str) -> Option<f64> {
    if value.is_empty() {
        return None;
    }
    Some(value.trim().parse::<f64>().unwrap_or(f64::NAN))
}

fn positive_integer(method: &str, arg: &str, value: i64, min: i64) -> Result<()> {
    if value < min {
        return Err(EngineError::invalid(format!("{method}: {arg} must be an integer >= {min}, got {value}")));
    }
    Ok(())
}

impl Queue {
    fn meta_key(&self) -> String {
        self.keys.key("meta")
    }

    /// Sets the global concurrency: no more than `concurrency` jobs of this
    /// queue are active at once, over every worker.
    pub async fn set_global_concurrency(&self, concurrency: i64) -> Result<()> {
        positive_integer("setGlobalConcurrency", "concurrency", concurrency, 0)?;
        let _: i64 = redis::cmd("HSET")
            .arg(self.meta_key())
            .arg("concurrency")
            .arg(concurrency)
            .query_async(&mut self.cmd())
            .await?;
        Ok(())
    }

    /// Sets the global rate limit: at most `max` jobs started per `duration` ms.
    pub async fn set_global_rate_limit(&self, max: i64, duration: i64) -> Result<()> {
        positive_integer("setGlobalRateLimit", "max", max, 0)?;
        positive_integer("setGlobalRateLimit", "duration", duration, 0)?;
        let _: i64 = redis::cmd("HSET")
            .arg(self.meta_key())
            .arg("max")
            .arg(max)
            .arg("duration")
            .arg(duration)
            .query_async(&mut self.cmd())
            .await?;
        Ok(())
    }

    /// Removes meta fields; the number removed.
    async fn remove_meta_fields(&self, fields: &[&str]) -> Result<i64> {
        Ok(redis::cmd("HDEL").arg(self.meta_key()).arg(fields).query_async(&mut self.cmd()).await?)
    }

    pub async fn remove_global_concurrency(&self) -> Result<i64> {
        self.remove_meta_fields(&["concurrency"]).await
    }

    pub async fn remove_global_rate_limit(&self) -> Result<i64> {
        self.remove_meta_fields(&["max", "duration"]).await
    }

    /// The global concurrency, when set.
    pub async fn global_concurrency(&self) -> Result<Option<f64>> {
        let v: Option<String> =
            redis::cmd("HGET").arg(self.meta_key()).arg("concurrency").query_async(&mut self.cmd()).await?;
        Ok(v.as_deref().and_then(number))
    }

    /// The global rate limit, when both its fields are set.
    pub async fn global_rate_limit(&self) -> Result<Option<GlobalRateLimit>> {
        let v: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.meta_key())
            .arg("max")
            .arg("duration")
            .query_async(&mut self.cmd())
            .await?;
        let max = v.first().and_then(|s| s.as_deref()).and_then(number);
        let duration = v.get(1).and_then(|s| s.as_deref()).and_then(number);
        Ok(match (max, duration) {
            (Some(max), Some(duration)) => Some(GlobalRateLimit { max, duration }),
            _ => None,
        })
    }

    /// One meta field as stored (`getVersion` reads `version`).
    pub async fn meta_field(&self, field: &str) -> Result<Option<String>> {
        Ok(redis::cmd("HGET").arg(self.meta_key()).arg(field).query_async(&mut self.cmd()).await?)
    }

    /// The whole meta hash, read the way BullMQ's `getMeta` reports it.
    pub async fn meta_info(&self) -> Result<MetaInfo> {
        let fields: Vec<(String, String)> =
            redis::cmd("HGETALL").arg(self.meta_key()).query_async(&mut self.cmd()).await?;
        let mut info = MetaInfo::default();
        for (field, value) in fields {
            match field.as_str() {
                "concurrency" => info.concurrency = number(&value),
                "max" => info.max = number(&value),
                "duration" => info.duration = number(&value),
                "opts.maxLenEvents" => info.max_len_events = number(&value),
                "paused" => info.paused = value == "1",
                _ => info.rest.push((field, value)),
            }
        }
        Ok(info)
    }

    /// True when a global concurrency is set and that many jobs are active.
    pub async fn is_maxed(&self) -> Result<bool> {
        let (concurrency, active): (Option<String>, i64) = redis::pipe()
            .atomic()
            .cmd("HGET")
            .arg(self.meta_key())
            .arg("concurrency")
            .cmd("LLEN")
            .arg(self.keys.key("active"))
            .query_async(&mut self.cmd())
            .await?;
        Ok(match concurrency.as_deref().and_then(number) {
            Some(c) => active as f64 >= c,
            None => false,
        })
    }

    /// Jobs waiting per priority, in the order asked (priority 0 is the wait
    /// list; a priority's jobs are the `prioritized` scores of its 2^32 band).
    pub async fn counts_per_priority(&self, priorities: &[i64]) -> Result<Vec<i64>> {
        if priorities.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for &p in priorities {
            if p == 0 {
                pipe.cmd("LLEN").arg(self.keys.key("wait"));
            } else {
                let low = (p as i128) << 32;
                let high = ((p as i128 + 1) << 32) - 1;
                pipe.cmd("ZCOUNT").arg(self.keys.key("prioritized")).arg(low.to_string()).arg(high.to_string());
            }
        }
        Ok(pipe.query_async(&mut self.cmd()).await?)
    }

    /// Deletes the rate limiter's counter (a limit in force ends now).
    pub async fn remove_rate_limit_key(&self) -> Result<i64> {
        self.delete_key("limiter").await
    }

    /// Deletes the `priority` key of very old BullMQ versions.
    pub async fn remove_deprecated_priority_key(&self) -> Result<i64> {
        self.delete_key("priority").await
    }

    async fn delete_key(&self, suffix: &str) -> Result<i64> {
        Ok(redis::cmd("DEL").arg(self.keys.key(suffix)).query_async(&mut self.cmd()).await?)
    }

    /// Appends a custom event (`event` plus the given fields) to the events
    /// stream, trimmed to about `max_events`; returns the entry id.
    pub async fn publish_event(&self, event: &str, fields: &[(String, String)], max_events: i64) -> Result<String> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.keys.key("events")).arg("MAXLEN").arg("~").arg(max_events.max(0)).arg("*");
        cmd.arg("event").arg(event);
        for (k, v) in fields {
            cmd.arg(k).arg(v);
        }
        let reply: Value = cmd.query_async(&mut self.cmd()).await?;
        as_string(&reply).ok_or_else(|| EngineError::invalid("unexpected reply from XADD"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_support::test_queue;

    #[test]
    fn numbers_read_as_bullmq_reads_them() {
        assert_eq!(number("5"), Some(5.0));
        assert_eq!(number(""), None);
        assert!(number("x").unwrap().is_nan());
    }

    #[tokio::test]
    async fn global_settings_round_trip_through_meta() {
        let q = test_queue("meta").await;
        assert_eq!(q.global_concurrency().await.unwrap(), None);
        q.set_global_concurrency(3).await.unwrap();
        q.set_global_rate_limit(10, 1000).await.unwrap();
        assert_eq!(q.global_concurrency().await.unwrap(), Some(3.0));
        assert_eq!(q.global_rate_limit().await.unwrap(), Some(GlobalRateLimit { max: 10.0, duration: 1000.0 }));
        let info = q.meta_info().await.unwrap();
        assert_eq!((info.concurrency, info.max, info.duration, info.paused), (Some(3.0), Some(10.0), Some(1000.0), false));
        assert!(!q.is_maxed().await.unwrap());
        assert_eq!(q.remove_global_concurrency().await.unwrap(), 1);
        assert_eq!(q.remove_global_rate_limit().await.unwrap(), 2);
        assert_eq!(q.global_rate_limit().await.unwrap(), None);
        assert!(q.set_global_concurrency(-1).await.is_err());
    }

    #[tokio::test]
    async fn counts_per_priority_split_the_prioritized_set_by_band() {
        let q = test_queue("prio-counts").await;
        let mut c = q.cmd();
        let _: () = redis::cmd("RPUSH").arg(q.keys().key("wait")).arg("a").query_async(&mut c).await.unwrap();
        for (member, p) in [("b", 1i64), ("c", 1), ("d", 7)] {
            let score = (p << 32) + 5;
            let _: () =
                redis::cmd("ZADD").arg(q.keys().key("prioritized")).arg(score).arg(member).query_async(&mut c).await.unwrap();
        }
        assert_eq!(q.counts_per_priority(&[0, 1, 7, 2]).await.unwrap(), vec![1, 2, 1, 0]);
    }
}
