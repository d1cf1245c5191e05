//! The Queue's getters and control operations on `BindingQueue`. The facade
//! (lib/queue.ts) checks and defaults the arguments; this layer converts them.

use std::collections::HashMap;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::IntoNapi;
use crate::engine::control::DEFAULT_BATCH_COUNT;
use super::queue::BindingQueue;
use super::types::BindingRawJob;

/// A page of a parent's children (Queue.getDependencies).
#[napi(object)]
pub struct BindingChildrenPage {
    /// Child job keys.
    pub ids: Vec<String>,
    /// For completed children, the stored value of each (JSON text), in the
    /// order of `ids`; absent for pending children.
    pub values: Option<Vec<String>>,
    /// The job hash of each child as a flat field/value list (empty when the
    /// child is gone), in the order of `ids`.
    pub jobs: Vec<Vec<String>>,
    pub total: i64,
}

#[napi(object)]
pub struct BindingJobLogs {
    pub logs: Vec<String>,
    pub count: i64,
}

#[napi]
impl BindingQueue {
    /// Counts per type, in the order given (`waiting` = the wait list). With
    /// `delayedBefore`, delayed jobs due before that timestamp only.
    #[napi]
    pub async fn get_job_counts(&self, types: Vec<String>, delayed_before: Option<i64>) -> Result<Vec<i64>> {
        self.queue.get_counts(&types, delayed_before).await.napi()
    }

    /// Jobs of the given types with their hashes; `asc` = oldest first.
    #[napi]
    pub async fn get_jobs(&self, types: Vec<String>, start: i64, end: i64, asc: bool) -> Result<Vec<BindingRawJob>> {
        Ok(self.queue.get_jobs(&types, start, end, asc).await.napi()?.into_iter().map(Into::into).collect())
    }

    /// Ids of jobs of the given types (BullMQ's getRanges).
    #[napi]
    pub async fn get_ranges(&self, types: Vec<String>, start: i64, end: i64, asc: bool) -> Result<Vec<String>> {
        self.queue.get_ranges(&types, start, end, asc).await.napi()
    }

    /// Children `start..=end` of a parent: completed ones (`processed`) or pending ones.
    #[napi]
    pub async fn get_children_page(
        &self,
        parent_id: String,
        processed: bool,
        start: i64,
        end: i64,
    ) -> Result<BindingChildrenPage> {
        let page = self.queue.children_page(&parent_id, processed, start, end).await.napi()?;
        let mut ids = Vec::with_capacity(page.items.len());
        let mut values = processed.then(|| Vec::with_capacity(page.items.len()));
        for (id, value) in page.items {
            ids.push(id);
            if let (Some(values), Some(value)) = (values.as_mut(), value) {
                values.push(value);
            }
        }
        Ok(BindingChildrenPage { ids, values, jobs: page.jobs, total: page.total })
    }

    /// Removes jobs no state holds; how many were removed.
    #[napi]
    pub async fn remove_orphaned_jobs(&self, count: Option<i64>, limit: i64) -> Result<i64> {
        self.queue.remove_orphaned_jobs(count.unwrap_or(DEFAULT_BATCH_COUNT), limit).await.napi()
    }

    /// Extends the locks of jobs held by the given tokens (pairwise); the ids
    /// whose lock is gone or held by another token.
    #[napi]
    pub async fn extend_locks(&self, job_ids: Vec<String>, tokens: Vec<String>, duration: i64) -> Result<Vec<String>> {
        let locks: Vec<(String, String)> = job_ids.into_iter().zip(tokens).collect();
        self.queue.extend_locks(&locks, duration).await.napi()
    }

    #[napi]
    pub async fn get_job_logs(&self, id: String, start: i64, end: i64, asc: bool) -> Result<BindingJobLogs> {
        let logs = self.queue.get_job_logs(&id, start, end, asc).await.napi()?;
        Ok(BindingJobLogs { logs: logs.logs, count: logs.count })
    }

    #[napi]
    pub async fn is_paused(&self) -> Result<bool> {
        self.queue.is_paused().await.napi()
    }

    /// The worker connections of this queue, as `CLIENT LIST` fields.
    #[napi]
    pub async fn get_workers(&self) -> Result<Vec<HashMap<String, String>>> {
        let workers = self.queue.get_workers().await.napi()?;
        Ok(workers.into_iter().map(|fields| fields.into_iter().collect()).collect())
    }

    /// The QueueEvents connections of this queue, as `CLIENT LIST` fields.
    #[napi]
    pub async fn get_queue_events(&self) -> Result<Vec<HashMap<String, String>>> {
        let clients = self.queue.get_queue_events().await.napi()?;
        Ok(clients.into_iter().map(|fields| fields.into_iter().collect()).collect())
    }

    /// Remaining rate-limit time; `maxJobs` 0 means "not given".
    #[napi]
    pub async fn get_rate_limit_ttl(&self, max_jobs: i64) -> Result<i64> {
        self.queue.get_rate_limit_ttl(max_jobs).await.napi()
    }

    #[napi]
    pub async fn pause(&self) -> Result<()> {
        self.queue.pause().await.napi()
    }

    #[napi]
    pub async fn resume(&self) -> Result<()> {
        self.queue.resume().await.napi()
    }

    #[napi]
    pub async fn drain(&self, delayed: bool) -> Result<()> {
        self.queue.drain(delayed).await.napi()
    }

    /// Removes old jobs of one state; the ids removed by each batch.
    #[napi]
    pub async fn clean(&self, state: String, cutoff: i64, limit: i64) -> Result<Vec<Vec<String>>> {
        self.queue.clean(&state, cutoff, limit).await.napi()
    }

    #[napi]
    pub async fn obliterate(&self, force: bool, count: Option<i64>) -> Result<()> {
        self.queue.obliterate(force, count.unwrap_or(DEFAULT_BATCH_COUNT)).await.napi()
    }

    #[napi]
    pub async fn rate_limit(&self, ms: i64) -> Result<()> {
        self.queue.rate_limit(ms).await.napi()
    }

    #[napi]
    pub async fn retry_jobs(&self, state: String, count: Option<i64>, timestamp: i64) -> Result<()> {
        self.queue.retry_jobs(&state, count.unwrap_or(DEFAULT_BATCH_COUNT), timestamp).await.napi()
    }

    #[napi]
    pub async fn promote_jobs(&self, count: Option<i64>) -> Result<()> {
        self.queue.promote_jobs(count.unwrap_or(DEFAULT_BATCH_COUNT)).await.napi()
    }
}
