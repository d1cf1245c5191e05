//! `BindingQueue`: the native half of `Queue` (and of `Job`'s methods).

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{Map, Value};

use super::convert::{BindingConnectionOptions, BindingFetched, BindingRawJob};
use super::worker::BindingFinish;
use crate::engine::active::{FetchSettings, Finish};
use super::error::{invalid, IntoNapi};
use super::queue_api::BindingQueueMeta;
use crate::engine::control::QueueMeta;
use crate::engine::job::NewJob;
use crate::engine::queue::{now_ms, Queue};

#[napi(object)]
pub struct BindingNewJob {
    pub name: String,
    /// JSON text of the data.
    pub data: String,
    /// JSON text of the options (public names, after defaults).
    pub opts: String,
    /// Client time of the add.
    pub timestamp: Option<i64>,
}

#[napi(object)]
pub struct BindingAdded {
    pub id: String,
    pub duplicated: bool,
}

#[napi]
pub struct BindingQueue {
    pub(crate) queue: Queue,
}

/// Connects and returns the native handle of a queue; with `meta` (a
/// producing Queue) also writes the queue's `meta` settings.
#[napi]
pub async fn open_queue(
    connection: BindingConnectionOptions,
    prefix: String,
    name: String,
    meta: Option<BindingQueueMeta>,
) -> Result<BindingQueue> {
    super::init_logging();
    let meta = meta.map(QueueMeta::from);
    let queue = Queue::open(connection.into(), &prefix, &name, meta.as_ref()).await.napi()?;
    Ok(BindingQueue { queue })
}

fn parse_opts(json: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(invalid("job options must be an object")),
        Err(e) => Err(invalid(format!("job options are not valid JSON: {e}"))),
    }
}

#[napi]
impl BindingQueue {
    /// Adds jobs in one round trip; ids in input order.
    #[napi]
    pub async fn add_jobs(&self, jobs: Vec<BindingNewJob>) -> Result<Vec<BindingAdded>> {
        let now = now_ms();
        let jobs = jobs
            .into_iter()
            .map(|j| {
                Ok(NewJob {
                    name: j.name,
                    data: j.data,
                    opts: parse_opts(&j.opts)?,
                    now: j.timestamp.unwrap_or(now),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let added = self.queue.add_jobs(&jobs).await.napi()?;
        Ok(added.into_iter().map(|a| BindingAdded { id: a.id, duplicated: a.duplicated }).collect())
    }

    /// Finishes a job held by `token` (a job of this queue, not fetched through
    /// a Worker): fetch-next uses BullMQ's default worker settings.
    #[napi]
    pub async fn move_to_finished(&self, finish: BindingFinish) -> Result<BindingFetched> {
        let finish: Finish = finish.into();
        Ok(self.queue.move_to_finished(&finish, &FetchSettings::default()).await.napi()?.into())
    }

    /// Closes the command connection; later calls fail with "Connection is closed.".
    #[napi]
    pub fn close(&self) {
        self.queue.connection().close();
    }

    #[napi]
    pub async fn get_job(&self, id: String) -> Result<Option<BindingRawJob>> {
        Ok(self.queue.get_job(&id).await.napi()?.map(Into::into))
    }
}
