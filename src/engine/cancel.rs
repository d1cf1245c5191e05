//! Cancelling a job that is active on one of our workers, from any process
//! (`queue.cancelJob`): an extension beyond BullMQ.
//!
//! Requests go over a Redis pub/sub channel named outside the queue's key
//! space, `bullmq-native:cancel:{prefix}:{queue}` (a channel, never a key, so
//! BullMQ's data is untouched). Every running worker of ours subscribes to it
//! and answers each request on the request's own reply channel, saying
//! whether it held the job (it then aborts the job's signal). The requester
//! subscribes to its reply channel before publishing, learns from PUBLISH how
//! many workers listen, and waits (bounded) for a worker that held the job or
//! for all answers.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::error::Result;
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

    /// Subscribes to the queue's cancel channel; returns the message stream.
    pub(crate) async fn subscribe_cancel_requests(&self) -> Result<redis::aio::PubSubStream> {
        let mut pubsub = self.connection().open_pubsub(&self.keys().key("meta")).await?;
        pubsub.subscribe(cancel_channel(self.keys())).await?;
        Ok(pubsub.into_on_message())
    }

    /// Answers the cancel requests arriving on `stream` until it ends:
    /// `handler(jobId, reason)` says whether this worker held the job.
    pub(crate) async fn serve_cancel_requests<F>(&self, mut stream: redis::aio::PubSubStream, handler: F)
    where
        F: Fn(&str, Option<String>) -> bool,
    {
        while let Some(msg) = stream.next().await {
            let Ok(request) = serde_json::from_slice::<CancelRequest>(msg.get_payload_bytes()) else {
                continue;
            };
            let held = handler(&request.job_id, request.reason);
            let Ok(reply) = serde_json::to_string(&CancelReply { req: request.req.clone(), held }) else {
                continue;
            };
            let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(reply_channel(&request.req))
                .arg(reply)
                .query_async(&mut self.cmd())
                .await;
            if let Err(err) = sent {
                tracing::warn!(%err, "could not answer a cancel request");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

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
        let mut servers = Vec::new();
        for held_id in ["7", "8"] {
            let stream = q.subscribe_cancel_requests().await.unwrap();
            let (q2, seen) = (q.clone(), seen.clone());
            servers.push(tokio::spawn(async move {
                q2.serve_cancel_requests(stream, move |id, reason| {
                    seen.lock().unwrap().push((id.to_string(), reason));
                    id == held_id
                })
                .await
            }));
        }
        assert!(q.cancel_job("8", Some("stop")).await.unwrap());
        assert!(!q.cancel_job("9", None).await.unwrap(), "all workers said no");
        let seen = seen.lock().unwrap().clone();
        assert!(seen.contains(&("8".to_string(), Some("stop".to_string()))));
        assert!(seen.contains(&("9".to_string(), None)));
        for s in servers {
            s.abort();
        }
    }
}
