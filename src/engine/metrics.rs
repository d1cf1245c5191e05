//! BullMQ's metrics of finished jobs, as read back: `getMetrics` (the
//! `metrics:{type}` hash and its per-minute data points) and the Prometheus
//! text of `exportPrometheusMetrics`. Workers with `metrics.maxDataPoints`
//! write them in the finish scripts (lua/includes/finish.lua).

use redis::Value;

use super::error::{EngineError, Result};
use super::queue::Queue;
use super::reply::as_strings;

/// What `getMetrics` returns for one type.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Jobs finished in that type since metrics were first recorded.
    pub count: i64,
    /// When the data points were last updated.
    pub prev_ts: i64,
    /// `count` at that time.
    pub prev_count: i64,
    /// Jobs finished per minute, newest first (`start..=end` of the list).
    pub data: Vec<f64>,
    /// Number of data points stored.
    pub points: i64,
}

/// The job types `exportPrometheusMetrics` reports gauges for, in order
/// (BullMQ's default `getJobCounts()` types).
const PROMETHEUS_STATES: &[&str] = &["active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children"];

/// Escapes a Prometheus label value: backslashes, double quotes, newlines.
fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Reads a stored number as BullMQ's `parseInt` does (leading digits; 0 when none).
fn parse_int(text: Option<&str>) -> i64 {
    let t = text.unwrap_or("").trim_start();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse::<i64>().map(|n| sign * n).unwrap_or(0)
}

impl Queue {
    /// The metrics of `kind` (`completed` or `failed`), data points `start..=end`.
    pub async fn get_metrics(&self, kind: &str, start: i64, end: i64) -> Result<Metrics> {
        if kind != "completed" && kind != "failed" {
            return Err(EngineError::invalid(format!(
                "getMetrics: type must be 'completed' or 'failed', got '{kind}'"
            )));
        }
        let meta_key = self.keys.key(&format!("metrics:{kind}"));
        let data_key = format!("{meta_key}:data");
        let (meta, data, points): (Vec<Option<String>>, Value, i64) = redis::pipe()
            .atomic()
            .cmd("HMGET")
            .arg(&meta_key)
            .arg(&["count", "prevTS", "prevCount"])
            .cmd("LRANGE")
            .arg(&data_key)
            .arg(start)
            .arg(end)
            .cmd("LLEN")
            .arg(&data_key)
            .query_async(&mut self.cmd())
            .await?;
        let field = |i: usize| parse_int(meta.get(i).and_then(|v| v.as_deref()));
        Ok(Metrics {
            count: field(0),
            prev_ts: field(1),
            prev_count: field(2),
            // BullMQ reads each point with unary plus (0 when not a number).
            data: as_strings(&data).iter().map(|p| p.trim().parse::<f64>().unwrap_or(0.0)).collect(),
            points,
        })
    }

    /// The queue's job counts and finished totals in Prometheus' text format,
    /// with `globals` as extra labels on every sample.
    pub async fn export_prometheus_metrics(&self, globals: &[(String, String)]) -> Result<String> {
        let states: Vec<String> = PROMETHEUS_STATES.iter().map(|s| s.to_string()).collect();
        let counts = self.get_counts(&states, None).await?;
        let completed = self.get_metrics("completed", 0, -1).await?;
        let failed = self.get_metrics("failed", 0, -1).await?;
        let queue = escape_label(self.keys.name());
        let labels: String =
            globals.iter().map(|(k, v)| format!(", {k}=\"{}\"", escape_label(v))).collect();
        let mut lines = vec![
            "# HELP bullmq_job_count Number of jobs in the queue by state".to_string(),
            "# TYPE bullmq_job_count gauge".to_string(),
        ];
        for (state, count) in PROMETHEUS_STATES.iter().zip(counts) {
            lines.push(format!("bullmq_job_count{{queue=\"{queue}\", state=\"{state}\"{labels}}} {count}"));
        }
        for (name, help, total) in [
            ("completed", "Total number of completed jobs", completed.count),
            ("failed", "Total number of failed jobs", failed.count),
        ] {
            lines.push(format!("# HELP bullmq_job_{name}_total {help}"));
            lines.push(format!("# TYPE bullmq_job_{name}_total counter"));
            lines.push(format!("bullmq_job_{name}_total{{queue=\"{queue}\"{labels}}} {total}"));
        }
        Ok(lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_support::test_queue;

    #[test]
    fn label_values_are_escaped_and_numbers_read_as_parse_int() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(parse_int(Some("12abc")), 12);
        assert_eq!(parse_int(Some("x")), 0);
        assert_eq!(parse_int(None), 0);
        assert_eq!(parse_int(Some("-3")), -3);
    }

    #[tokio::test]
    async fn metrics_are_read_from_the_hash_and_the_data_list() {
        let q = test_queue("metrics-read").await;
        let mut c = q.cmd();
        let key = q.keys().key("metrics:completed");
        let _: () = redis::cmd("HSET")
            .arg(&key)
            .arg(&["count", "7", "prevTS", "120000", "prevCount", "4"])
            .query_async(&mut c)
            .await
            .unwrap();
        let _: () = redis::cmd("RPUSH").arg(format!("{key}:data")).arg(&["3", "0", "1"]).query_async(&mut c).await.unwrap();
        let m = q.get_metrics("completed", 0, 1).await.unwrap();
        assert_eq!(m, Metrics { count: 7, prev_ts: 120000, prev_count: 4, data: vec![3.0, 0.0], points: 3 });
        let empty = q.get_metrics("failed", 0, -1).await.unwrap();
        assert_eq!((empty.count, empty.points, empty.data.len()), (0, 0, 0));
        assert!(q.get_metrics("waiting", 0, -1).await.is_err());
    }
}
