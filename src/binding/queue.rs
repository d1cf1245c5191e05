//! `BindingQueue`: the native half of `Queue` (and of `Job`'s methods).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::IntoNapi;
use super::types::{BindingConnectionOptions, BindingFetched, BindingFinish, BindingQueueMeta, BindingRawJob};
use crate::engine::active::{FetchSettings, Finish};
use crate::engine::control::QueueMeta;
use crate::engine::adder::{ids_json, Adder};
use crate::engine::queue::Queue;

/// Gives the ids' JSON to the promise of `addJobs`, on the JS thread.
type IdsResolver = Box<dyn FnOnce(Env) -> Result<String> + Send>;

#[napi]
pub struct BindingQueue {
    pub(crate) queue: Queue,
    /// Sends this queue's adds in call order, pipelined.
    adder: Adder,
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
    Ok(BindingQueue::on_queue(queue))
}

impl BindingQueue {
    /// The handle of a queue on a connection opened already (the queues of
    /// a FlowProducer's jobs share its connection). Within the runtime.
    pub(crate) fn on_queue(queue: Queue) -> Self {
        let adder = Adder::start(queue.clone());
        BindingQueue { queue, adder }
    }
}

/// A weak (unref'd) callback taking a message.
type MessageCallback = napi::threadsafe_function::ThreadsafeFunction<String, (), String, Status, false, true>;

#[napi]
impl BindingQueue {
    /// Calls `callback` once per Redis outage on this queue's connection
    /// (BullMQ's `error` event for a lost connection). Never keeps Node's
    /// event loop alive.
    #[napi(ts_args_type = "callback: (message: string) => void")]
    pub fn on_outage(&self, callback: MessageCallback) {
        self.queue.connection().on_outage(Box::new(move |message| {
            callback.call(message.to_string(), napi::threadsafe_function::ThreadsafeFunctionCallMode::NonBlocking);
        }));
    }

    /// Adds jobs given as the JSON text of `[[name, data, opts, timestamp],
    /// ...]` (see `JobBatch`); resolves with the JSON text of their ids, in
    /// input order. One string each way instead of an object per job. The
    /// batch is queued by this call, behind the batches of earlier calls:
    /// adds reach Redis in call order, without waiting for each other.
    #[napi(ts_return_type = "Promise<string>", catch_unwind)]
    pub fn add_jobs<'env>(&self, env: &'env Env, batch: String) -> Result<Object<'env>> {
        crate::engine::guard::injection_point(crate::engine::guard::Site::Sync);
        // Settled straight from the add task: no task per call in between.
        let (deferred, promise) = env.create_deferred::<String, IdsResolver>()?;
        self.adder.submit_with(
            batch,
            Box::new(move |added| match added.napi() {
                Ok(added) => {
                    let ids = ids_json(&added);
                    deferred.resolve(Box::new(move |_| Ok(ids)));
                }
                Err(err) => deferred.reject(err),
            }),
        );
        Ok(promise)
    }

    /// Finishes a job held by `token` (a job of this queue, not fetched through
    /// a Worker): fetch-next uses BullMQ's default worker settings.
    #[napi]
    pub async fn move_to_finished(&self, finish: BindingFinish) -> Result<BindingFetched> {
        let finish: Finish = finish.into();
        Ok(self.queue.finish_outside_worker(&finish, &FetchSettings::default()).await.napi()?.into())
    }

    /// Closes the command connection; later calls fail with "Connection is closed.".
    #[napi(catch_unwind)]
    pub fn close(&self) {
        self.queue.connection().close();
    }

    #[napi]
    pub async fn get_job(&self, id: String) -> Result<Option<BindingRawJob>> {
        Ok(self.queue.get_job(&id).await.napi()?.map(Into::into))
    }
}
