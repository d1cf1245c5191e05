//! The native half of the deduplication methods of `Queue` and `Job`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::IntoNapi;
use super::queue::BindingQueue;

#[napi]
impl BindingQueue {
    /// The id of the job that owns a deduplication id, or null.
    #[napi]
    pub async fn get_deduplication_job_id(&self, dedup_id: String) -> Result<Option<String>> {
        self.queue.deduplication_job_id(&dedup_id).await.napi()
    }

    /// Deletes a deduplication key whichever job owns it; the number deleted.
    #[napi]
    pub async fn remove_deduplication_key(&self, dedup_id: String) -> Result<i64> {
        self.queue.remove_deduplication_key(&dedup_id).await.napi()
    }

    /// Deletes a deduplication key only while `jobId` owns it; true when deleted.
    #[napi]
    pub async fn remove_job_deduplication_key(&self, dedup_id: String, job_id: String) -> Result<bool> {
        self.queue.remove_deduplication_key_of(&dedup_id, &job_id).await.napi()
    }
}
