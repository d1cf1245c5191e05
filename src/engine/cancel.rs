//! Cancelling a job that is active on one of our workers, from any process
//! (`queue.cancelJob`): an extension beyond BullMQ.
//!
//! Requests go over a Redis pub/sub channel named outside the queue's key
//! space, `bullmq-native:cancel:{prefix}:{queue}` (a channel, never a key, so
//! BullMQ's data is untouched). Every running worker of ours subscribes to it
//! and answers each request on the request's own reply channel, saying
//! whether it held the job (it then aborts the job's signal); a process
//! subscribes once for all its workers and answers once (see `Desk`). The
//! requester subscribes to its reply channel before publishing, learns from
//! PUBLISH how many processes listen, and waits (bounded) for one that held
//! the job or for all answers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex as StdMutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use serde::{Deserialize, Serialize};
use tokio::task::AbortHandle;

use super::connection::Connection;
use super::error::Result;
use super::guard::lock;
use super::keys::QueueKeys;
use super::queue::Queue;

/// How long a requester waits for the workers' answers.
pub const CANCEL_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// The channel workers of a queue listen on for cancel requests.
pub fn cancel_channel(keys: &QueueKeys) -> String {
    format!("bullmq-native:cancel:{}", keys.qualified_name())
}

fn reply_channel(request: &str) -> String {
    format!("bullmq-native:cancel-reply:{request}")
}

#[derive(Debug, Serialize, Deserialize)]
struct CancelRequest {
    /// Request id (also names the reply channel).
    req: String,
    #[serde(rename = "jobId")]
    job_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CancelReply {
    req: String,
    held: bool,
}

impl Queue {
    /// Asks every running worker of ours on this queue to cancel `job_id`;
    /// true when one of them held it (its signal aborted with `reason`).
    /// False when no worker answered that it held the job within
    /// `CANCEL_REPLY_TIMEOUT`.
    pub async fn cancel_job(&self, job_id: &str, reason: Option<&str>) -> Result<bool> {
        let req = uuid::Uuid::new_v4().to_string();
        let mut pubsub = self.connection().open_pubsub(&self.keys().key("meta")).await?;
        pubsub.subscribe(reply_channel(&req)).await?;
        let request = serde_json::to_string(&CancelRequest {
            req: req.clone(),
            job_id: job_id.to_string(),
            reason: reason.map(str::to_string),
        })?;
        let listeners: i64 = redis::cmd("PUBLISH")
            .arg(cancel_channel(self.keys()))
            .arg(request)
            .query_async(&mut self.cmd())
            .await?;
        if listeners <= 0 {
            return Ok(false);
        }
        let mut replies = pubsub.into_on_message();
        let deadline = tokio::time::sleep(CANCEL_REPLY_TIMEOUT);
        tokio::pin!(deadline);
        let mut answered = 0;
        loop {
            tokio::select! {
                msg = replies.next() => {
                    let Some(msg) = msg else { return Ok(false) };
                    let Ok(reply) = serde_json::from_slice::<CancelReply>(msg.get_payload_bytes()) else {
                        continue;
                    };
                    if reply.req != req {
                        continue;
                    }
                    if reply.held {
                        return Ok(true);
                    }
                    answered += 1;
                    if answered >= listeners {
                        return Ok(false);
                    }
                }
                _ = &mut deadline => return Ok(false),
            }
        }
    }

    /// Serves this queue's cancel requests with `handler(jobId, reason)`
    /// (whether the caller held the job and aborted it) until the returned
    /// registration is dropped. Subscribed when this returns.
    pub(crate) async fn serve_cancels(&self, handler: Handler) -> Result<CancelRegistration> {
        let desk = Desk::of(self).await?;
        let channel = cancel_channel(self.keys());
        let id = NEXT_HANDLER.fetch_add(1, Ordering::Relaxed);
        let mut sink = desk.sink.lock().await;
        let first = {
            let mut handlers = lock(&desk.handlers);
            let list = handlers.entry(channel.clone()).or_default();
            list.push((id, handler));
            list.len() == 1
        };
        // The registration now exists: dropped, it takes its handler back.
        let registration = CancelRegistration { desk: desk.clone(), channel: channel.clone(), id };
        if first {
            match sink.as_mut() {
                Some(sink) => sink.subscribe(&channel).await?,
                None => return Err(super::error::EngineError::closed("Connection is closed.")),
            }
        }
        Ok(registration)
    }
}

/// Says whether this worker held a job (and aborted it): `(jobId, reason)`.
pub(crate) type Handler = Arc<dyn Fn(&str, Option<String>) -> bool + Send + Sync>;

static NEXT_HANDLER: AtomicU64 = AtomicU64::new(1);

/// The cancel requests of a process's workers on one command connection:
/// one subscriber connection for all their queues' channels (a Worker adds
/// no connection of its own for them), and one answer per request for the
/// whole process, held when any of its workers held the job, since PUBLISH
/// counts the subscribed connections the requester waits for.
struct Desk {
    /// A lease of its own, so the desk outlives the worker that opened it.
    conn: Connection,
    /// Routes the subscriber on a cluster (where any node hears every channel).
    route: String,
    handlers: StdMutex<HashMap<String, Vec<(u64, Handler)>>>,
    /// Subscribes and unsubscribes while the serving task reads.
    sink: tokio::sync::Mutex<Option<PubSubSink>>,
    task: StdMutex<Option<AbortHandle>>,
}

/// The desks of the process, by [`Connection::id`].
static DESKS: LazyLock<tokio::sync::Mutex<HashMap<u64, Weak<Desk>>>> = LazyLock::new(Default::default);

const DESK: &str = "cancel requests' subscriber";

/// How long the desk waits before reopening a lost subscriber connection.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_secs(1);

impl Desk {
    /// The desk of `queue`'s connection, opened on first use.
    async fn of(queue: &Queue) -> Result<Arc<Desk>> {
        let mut desks = DESKS.lock().await;
        desks.retain(|_, d| d.strong_count() > 0);
        if let Some(desk) = desks.get(&queue.connection().id()).and_then(Weak::upgrade) {
            return Ok(desk);
        }
        let conn = queue.connection().share();
        let route = queue.keys().key("meta");
        let (sink, stream) = conn.open_pubsub(&route).await?.split();
        let desk = Arc::new(Desk {
            conn,
            route,
            handlers: StdMutex::default(),
            sink: tokio::sync::Mutex::new(Some(sink)),
            task: StdMutex::default(),
        });
        let task = tokio::spawn(serve(Arc::downgrade(&desk), stream)).abort_handle();
        *lock(&desk.task) = Some(task);
        desks.insert(desk.conn.id(), Arc::downgrade(&desk));
        Ok(desk)
    }

    /// Asks the handlers of the request's channel and answers it once.
    async fn answer(&self, msg: redis::Msg) {
        let Ok(request) = serde_json::from_slice::<CancelRequest>(msg.get_payload_bytes()) else {
            return;
        };
        let handlers: Vec<Handler> =
            lock(&self.handlers).get(msg.get_channel_name()).into_iter().flatten().map(|(_, h)| h.clone()).collect();
        let held = handlers.iter().any(|h| h(&request.job_id, request.reason.clone()));
        let Ok(reply) = serde_json::to_string(&CancelReply { req: request.req.clone(), held }) else {
            return;
        };
        let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(reply_channel(&request.req))
            .arg(reply)
            .query_async(&mut self.conn.commands_for(&self.route))
            .await;
        if let Err(err) = sent {
            tracing::warn!(%err, "could not answer a cancel request");
        }
    }

    /// A new subscriber connection with every channel in use subscribed.
    async fn resubscribe(&self) -> Result<PubSubStream> {
        let (mut sink, stream) = self.conn.open_pubsub(&self.route).await?.split();
        let mut current = self.sink.lock().await;
        let channels: Vec<String> = lock(&self.handlers).keys().cloned().collect();
        for channel in channels {
            sink.subscribe(&channel).await?;
        }
        *current = Some(sink);
        Ok(stream)
    }

    /// Takes a registration's handler back; unsubscribes its channel when
    /// it was the last one there.
    fn remove(self: &Arc<Self>, channel: &str, id: u64) {
        let emptied = {
            let mut handlers = lock(&self.handlers);
            let Some(list) = handlers.get_mut(channel) else { return };
            list.retain(|(h, _)| *h != id);
            list.is_empty()
        };
        if !emptied {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (desk, channel) = (self.clone(), channel.to_string());
        runtime.spawn(async move {
            let mut sink = desk.sink.lock().await;
            // Unless a worker of that queue registered again meanwhile.
            let still_empty = {
                let mut handlers = lock(&desk.handlers);
                let empty = handlers.get(&channel).is_some_and(Vec::is_empty);
                if empty {
                    handlers.remove(&channel);
                }
                empty
            };
            if still_empty {
                if let Some(sink) = sink.as_mut() {
                    // A channel left subscribed is answered "not held".
                    let _ = sink.unsubscribe(&channel).await;
                }
            }
        });
    }
}

impl Drop for Desk {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
        self.conn.close();
    }
}

/// Reads the desk's subscriber connection, reopening it when it is lost,
/// until the desk is gone.
async fn serve(desk: Weak<Desk>, mut stream: PubSubStream) {
    loop {
        while let Some(msg) = stream.next().await {
            let Some(desk) = desk.upgrade() else { return };
            // A panic answering one request (logged) must not end the others'.
            let _ = super::guard::catch(DESK, desk.answer(msg)).await;
        }
        loop {
            tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
            let Some(desk) = desk.upgrade() else { return };
            match desk.resubscribe().await {
                Ok(s) => {
                    stream = s;
                    break;
                }
                Err(err) => tracing::debug!(%err, "could not resubscribe to cancel requests yet"),
            }
        }
    }
}

/// A worker's part in serving its queue's cancel requests; dropping it
/// ends that part.
pub(crate) struct CancelRegistration {
    desk: Arc<Desk>,
    channel: String,
    id: u64,
}

impl Drop for CancelRegistration {
    fn drop(&mut self) {
        self.desk.remove(&self.channel, self.id);
    }
}


#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::{cancel_channel, Handler};
    use crate::engine::test_support::test_queue;

    #[tokio::test]
    async fn without_workers_nobody_holds_the_job() {
        let q = test_queue("cancel-none").await;
        assert!(!q.cancel_job("1", Some("why")).await.unwrap());
    }

    #[tokio::test]
    async fn the_worker_that_holds_the_job_answers() {
        let q = test_queue("cancel").await;
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut registrations = Vec::new();
        // Two workers of one process: one subscriber, one answer per request.
        for held_id in ["7", "8"] {
            let seen = seen.clone();
            let handler: Handler = Arc::new(move |id: &str, reason: Option<String>| {
                seen.lock().unwrap().push((id.to_string(), reason));
                id == held_id
            });
            registrations.push(q.serve_cancels(handler).await.unwrap());
        }
        assert_eq!(subscribers(&q).await, 1);
        assert!(q.cancel_job("8", Some("stop")).await.unwrap());
        assert!(q.cancel_job("7", None).await.unwrap(), "the other worker of the process held it");
        assert!(!q.cancel_job("9", None).await.unwrap(), "all workers said no");
        let seen = seen.lock().unwrap().clone();
        assert!(seen.contains(&("8".to_string(), Some("stop".to_string()))));
        assert!(seen.contains(&("9".to_string(), None)));
        registrations.clear();
        // The last registration gone, the subscriber connection closes.
        for _ in 0..100 {
            if subscribers(&q).await == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(subscribers(&q).await, 0);
        assert!(!q.cancel_job("8", None).await.unwrap());
    }

    /// How many connections listen on the queue's cancel channel.
    async fn subscribers(q: &crate::engine::queue::Queue) -> i64 {
        let reply: Vec<redis::Value> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(cancel_channel(q.keys()))
            .query_async(&mut q.cmd())
            .await
            .unwrap();
        redis::from_redis_value(reply[1].clone()).unwrap()
    }
}
