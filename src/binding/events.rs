//! `BindingQueueEvents`: the native half of `QueueEvents`; and the events
//! stream calls of `BindingQueue` (`trimEvents`, the finished check of
//! `waitUntilFinished`).

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;

use super::error::{to_napi, IntoNapi};
use super::queue::BindingQueue;
use crate::engine::events::{EventsOptions, EventsReader, Finished, ReaderEvent, StreamEntry};

#[napi(object)]
pub struct BindingEventsOptions {
    /// Milliseconds one XREAD blocks (BullMQ's `blockingTimeout`).
    pub blocking_timeout: Option<i64>,
    /// Read the entries after this id; absent or `$` = only new entries.
    pub last_event_id: Option<String>,
}

/// One entry of the events stream: `[field, value, ...]` in stream order.
#[napi(object)]
pub struct BindingStreamEntry {
    pub id: String,
    pub fields: Vec<String>,
}

impl From<StreamEntry> for BindingStreamEntry {
    fn from(e: StreamEntry) -> Self {
        BindingStreamEntry { id: e.id, fields: e.fields }
    }
}

/// What one call of the batch callback carries: the entries of one XREAD,
/// or an error (message in the binding's error format) while reading.
#[napi(object)]
pub struct BindingEventBatch {
    pub entries: Vec<BindingStreamEntry>,
    pub error: Option<String>,
}

/// The JS callback receiving batches; the reader waits for it to return.
type BatchCallback = ThreadsafeFunction<BindingEventBatch, (), BindingEventBatch, Status, false>;

#[napi]
pub struct BindingQueueEvents {
    reader: Arc<EventsReader>,
}

/// Opens the dedicated, named connection of a QueueEvents.
#[napi]
pub async fn open_queue_events(queue: &BindingQueue, options: BindingEventsOptions) -> Result<BindingQueueEvents> {
    let blocking_timeout = match options.blocking_timeout {
        Some(ms) if ms < 0 => return Err(super::error::invalid(format!("blockingTimeout must be >= 0, got {ms}"))),
        Some(ms) => Some(ms as u64),
        None => None,
    };
    let opts = EventsOptions { blocking_timeout, last_event_id: options.last_event_id };
    let reader = EventsReader::open(&queue.queue, opts).await.napi()?;
    Ok(BindingQueueEvents { reader: Arc::new(reader) })
}

#[napi]
impl BindingQueueEvents {
    /// Starts reading; resolves once the start position is fixed. Each batch
    /// of entries is one call of `onBatch`.
    #[napi(ts_args_type = "onBatch: (batch: BindingEventBatch) => void")]
    pub async fn start(&self, on_batch: BatchCallback) -> Result<()> {
        let callback = Arc::new(on_batch);
        self.reader
            .start(move |event| {
                let callback = callback.clone();
                async move {
                    let batch = match event {
                        ReaderEvent::Entries(entries) => BindingEventBatch {
                            entries: entries.into_iter().map(Into::into).collect(),
                            error: None,
                        },
                        ReaderEvent::Error(err) => {
                            BindingEventBatch { entries: Vec::new(), error: Some(to_napi(err).reason) }
                        }
                    };
                    match callback.call_async_catch(batch).await {
                        Ok(()) => true,
                        // Node is shutting down: nobody is listening any more.
                        Err(err) => err.status != Status::Closing,
                    }
                }
            })
            .await
            .napi()
    }

    /// Stops reading at once and releases the callback.
    #[napi]
    pub async fn close(&self) {
        self.reader.close().await;
    }
}

/// `isFinished` with the value: status 1 completed (value = returnvalue
/// JSON), 2 failed (value = failedReason), 0 not finished, -1 missing
/// (value = BullMQ's message).
#[napi(object)]
pub struct BindingFinished {
    pub status: i32,
    pub value: Option<String>,
}

#[napi]
impl BindingQueue {
    /// Trims the events stream to about `maxLength` entries; the number removed.
    #[napi]
    pub async fn trim_events(&self, max_length: i64) -> Result<i64> {
        self.queue.trim_events(max_length).await.napi()
    }

    /// Whether a job completed or failed, with its return value or reason.
    #[napi]
    pub async fn is_finished(&self, id: String) -> Result<BindingFinished> {
        Ok(match self.queue.is_finished(&id).await.napi()? {
            Finished::Missing => BindingFinished {
                status: -1,
                value: Some(format!("Missing key for job {}. isFinished", self.queue.keys().job(&id))),
            },
            Finished::No => BindingFinished { status: 0, value: None },
            Finished::Completed(v) => BindingFinished { status: 1, value: v },
            Finished::Failed(v) => BindingFinished { status: 2, value: v },
        })
    }
}
