//! Queue-wide settings and meta reads on `BindingQueue` (global concurrency
//! and rate limit, getMeta, isMaxed, counts per priority, maintenance
//! deletes) and custom events (QueueEventsProducer.publishEvent).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::IntoNapi;
use super::queue::BindingQueue;

/// BullMQ's `getMeta()` reading of the `meta` hash.
#[napi(object)]
pub struct BindingMetaInfo {
    pub concurrency: Option<f64>,
    pub max: Option<f64>,
    pub duration: Option<f64>,
    pub max_len_events: Option<f64>,
    pub paused: bool,
    /// Every other field, flat: `[field, value, ...]`.
    pub rest: Vec<String>,
}

/// `[k1, v1, k2, v2, ...]` as pairs (a missing last value is empty).
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let Some(k) = it.next() {
        out.push((k, it.next().unwrap_or_default()));
    }
    out
}

#[napi(object)]
pub struct BindingRateLimit {
    pub max: f64,
    pub duration: f64,
}

#[napi]
impl BindingQueue {
    #[napi]
    pub async fn set_global_concurrency(&self, concurrency: i64) -> Result<()> {
        self.queue.set_global_concurrency(concurrency).await.napi()
    }

    #[napi]
    pub async fn get_global_concurrency(&self) -> Result<Option<f64>> {
        self.queue.global_concurrency().await.napi()
    }

    #[napi]
    pub async fn remove_global_concurrency(&self) -> Result<i64> {
        self.queue.remove_global_concurrency().await.napi()
    }

    #[napi]
    pub async fn set_global_rate_limit(&self, max: i64, duration: i64) -> Result<()> {
        self.queue.set_global_rate_limit(max, duration).await.napi()
    }

    #[napi]
    pub async fn get_global_rate_limit(&self) -> Result<Option<BindingRateLimit>> {
        let limit = self.queue.global_rate_limit().await.napi()?;
        Ok(limit.map(|l| BindingRateLimit { max: l.max, duration: l.duration }))
    }

    #[napi]
    pub async fn remove_global_rate_limit(&self) -> Result<i64> {
        self.queue.remove_global_rate_limit().await.napi()
    }

    #[napi]
    pub async fn get_meta_field(&self, field: String) -> Result<Option<String>> {
        self.queue.meta_field(&field).await.napi()
    }

    #[napi]
    pub async fn get_meta(&self) -> Result<BindingMetaInfo> {
        let m = self.queue.meta_info().await.napi()?;
        Ok(BindingMetaInfo {
            concurrency: m.concurrency,
            max: m.max,
            duration: m.duration,
            max_len_events: m.max_len_events,
            paused: m.paused,
            rest: m.rest.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        })
    }

    #[napi]
    pub async fn is_maxed(&self) -> Result<bool> {
        self.queue.is_maxed().await.napi()
    }

    #[napi]
    pub async fn get_counts_per_priority(&self, priorities: Vec<i64>) -> Result<Vec<i64>> {
        self.queue.counts_per_priority(&priorities).await.napi()
    }

    #[napi]
    pub async fn remove_rate_limit_key(&self) -> Result<i64> {
        self.queue.remove_rate_limit_key().await.napi()
    }

    #[napi]
    pub async fn remove_deprecated_priority_key(&self) -> Result<i64> {
        self.queue.remove_deprecated_priority_key().await.napi()
    }

    /// Appends a custom event; `fields` flat (`[field, value, ...]`), values
    /// already text. Resolves with the stream entry id.
    #[napi]
    pub async fn publish_event(&self, event: String, fields: Vec<String>, max_events: i64) -> Result<String> {
        self.queue.publish_event(&event, &pairs(fields), max_events).await.napi()
    }
}

/// BullMQ's `getMetrics` result.
#[napi(object)]
pub struct BindingMetrics {
    pub count: i64,
    pub prev_ts: i64,
    pub prev_count: i64,
    pub data: Vec<f64>,
    pub points: i64,
}

#[napi]
impl BindingQueue {
    #[napi]
    pub async fn get_metrics(&self, kind: String, start: i64, end: i64) -> Result<BindingMetrics> {
        let m = self.queue.get_metrics(&kind, start, end).await.napi()?;
        Ok(BindingMetrics { count: m.count, prev_ts: m.prev_ts, prev_count: m.prev_count, data: m.data, points: m.points })
    }

    /// `globals` flat: `[label, value, ...]`.
    #[napi]
    pub async fn export_prometheus_metrics(&self, globals: Vec<String>) -> Result<String> {
        self.queue.export_prometheus_metrics(&pairs(globals)).await.napi()
    }
}
