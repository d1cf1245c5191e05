//! The adds of one producer, sent in the order they were made and pipelined.
//!
//! A producer hands over batches of jobs (the JSON text of [`JobBatch`])
//! synchronously, in call order. One task per producer takes them in that
//! order and starts each add right away, without waiting for the replies of
//! the earlier ones: every add enters the command connection's pipeline in
//! the order it was submitted, so Redis runs them in that order (job ids
//! follow the call order, as with BullMQ's one connection), while the client
//! prepares the next batch as Redis runs the previous one. This is what lets
//! the facade split a large addBulk into pieces that overlap with Redis.

use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::error::{EngineError, Result};
use super::guard::{self, Site};
use super::job::JobBatch;
use super::queue::{Added, Queue};

/// Called once with the outcome of a batch, on the add task.
pub type OnAdded = Box<dyn FnOnce(Result<Vec<Added>>) + Send>;

/// What the add task is to answer. A reply dropped unanswered (its add
/// panicked, or the task did) answers with an error: a JS promise waiting on
/// it must not wait forever.
struct Reply(Option<OnAdded>);

impl Reply {
    fn send(mut self, result: Result<Vec<Added>>) {
        if let Some(reply) = self.0.take() {
            reply(result);
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(reply) = self.0.take() {
            reply(Err(guard::abandoned(TASK)));
        }
    }
}

const TASK: &str = "add task";

struct Request {
    batch: String,
    reply: Reply,
}

/// Handle to a producer's add task; dropping it ends the task once the adds
/// in flight are done.
pub struct Adder {
    tx: mpsc::UnboundedSender<Request>,
}

impl Adder {
    /// Starts the add task of `queue`; must be called within a tokio runtime.
    pub fn start(queue: Queue) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        // A panic outside an add drops the channel: the batches in it, and
        // those submitted later, are answered with an error by their Reply.
        guard::spawn(TASK, run(queue, rx), |_| {});
        Self { tx }
    }

    /// Queues a batch behind every batch submitted before it; `on_added` is
    /// called with the ids, in input order (or the error), on the add task.
    /// No task is spawned per batch: the caller answers its own caller from
    /// `on_added` (the binding settles a JS promise there).
    pub fn submit_with(&self, batch: String, on_added: OnAdded) {
        // Refused only once the task is gone: the request's Reply answers as
        // it is dropped.
        let _ = self.tx.send(Request { batch, reply: Reply(Some(on_added)) });
    }

    /// As [`Adder::submit_with`], as a future. The batch is queued by this
    /// call itself, not when the future is first polled.
    pub fn submit(&self, batch: String) -> impl Future<Output = Result<Vec<Added>>> + Send + 'static {
        let (reply, done) = oneshot::channel();
        self.submit_with(
            batch,
            Box::new(move |result| {
                // The caller may have gone away; nothing to do then.
                let _ = reply.send(result);
            }),
        );
        async move { done.await.unwrap_or_else(|_| Err(EngineError::closed("Connection is closed."))) }
    }
}

/// Only batches this small (a few jobs: single adds) are merged with others:
/// merging saves Redis the work done once per call, which matters for small
/// batches, while large ones (pieces of an addBulk) are better sent alone,
/// so that the client handles one reply while Redis adds the next piece.
const SMALL_BATCH: usize = 8 << 10;
/// At most this many batches are merged into one add.
const MAX_GROUP: usize = 1000;

async fn run(queue: Queue, mut rx: mpsc::UnboundedReceiver<Request>) {
    // Nothing to do before the first add (a Worker's queue handle never adds).
    let Some(first) = rx.recv().await else {
        return;
    };
    // Loaded up front: an add answered that the server lacks the script
    // (NOSCRIPT, "Function not found") is sent again after the adds that
    // followed it, which would break the order. (Batches submitted
    // meanwhile wait in the channel.) If this fails, adds still load it.
    if let Err(e) = queue.load_add_script().await {
        tracing::debug!(error = %e, "could not load the add script ahead");
    }
    let mut inflight = FuturesUnordered::new();
    let mut next = Some(first);
    loop {
        let first = match next.take() {
            Some(request) => request,
            None => tokio::select! {
                // New batches first: each group is pushed in submission order,
                // and the set polls new futures in push order, so their first
                // polls (which enter the connection's pipeline) keep that order.
                biased;
                request = rx.recv() => match request {
                    Some(request) => request,
                    None => break,
                },
                Some(()) = inflight.next(), if !inflight.is_empty() => continue,
            },
        };
        // Batches that queued up meanwhile (adds made while others were in
        // flight) go together: the same script calls as one add of all their
        // jobs, in order, and Redis runs the per-call work once.
        let mut group = vec![first];
        while group.len() < MAX_GROUP && group[group.len() - 1].batch.len() <= SMALL_BATCH {
            match rx.try_recv() {
                Ok(small) if small.batch.len() <= SMALL_BATCH => group.push(small),
                Ok(large) => {
                    // Sent on its own, right after the group.
                    inflight.push(add_group(queue.clone(), group));
                    group = vec![large];
                }
                Err(_) => break,
            }
        }
        inflight.push(add_group(queue.clone(), group));
    }
    while inflight.next().await.is_some() {}
}

/// Adds the jobs of several batches in one go and answers each batch with
/// its own ids, or its first error. A panic fails this group alone (its
/// replies, dropped, answer with an error); the task goes on.
async fn add_group(queue: Queue, group: Vec<Request>) {
    let _ = guard::catch(TASK, add_group_unguarded(queue, group)).await;
}

async fn add_group_unguarded(queue: Queue, group: Vec<Request>) {
    let (texts, replies): (Vec<String>, Vec<_>) = group.into_iter().map(|r| (r.batch, r.reply)).unzip();
    let mut batches: Vec<(JobBatch<'_>, Reply)> = Vec::with_capacity(texts.len());
    for (text, reply) in texts.iter().zip(replies) {
        match JobBatch::parse(text) {
            Ok(batch) => batches.push((batch, reply)),
            // A batch that cannot be read fails alone.
            Err(e) => reply.send(Err(e)),
        }
    }
    guard::injection_point(Site::Adder);
    let jobs: Vec<_> = batches.iter().flat_map(|(batch, _)| batch.jobs()).collect();
    match queue.add_each(&jobs).await {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for (batch, reply) in batches {
                let mine: Vec<Result<Added>> = outcomes.by_ref().take(batch.len()).collect();
                reply.send(mine.into_iter().collect());
            }
        }
        Err(e) => {
            for (_, reply) in batches {
                reply.send(Err(e.clone()));
            }
        }
    }
}

/// The ids as JSON, runs of consecutive numeric ids (the common case) as
/// `[first, count]`: `["a", [7, 3]]` is a, 7, 8, 9.
pub fn ids_json(added: &[Added]) -> String {
    let mut out = String::with_capacity(16 + added.len() * 2);
    out.push('[');
    let mut run: Option<(u64, u64)> = None;
    let flush = |out: &mut String, run: &mut Option<(u64, u64)>| {
        if let Some((first, count)) = run.take() {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&format!("[{first},{count}]"));
        }
    };
    for a in added {
        // Canonical decimal integers below 2^53 only: JS turns them back exactly.
        let numeric = a
            .id
            .parse::<u64>()
            .ok()
            .filter(|n| *n < (1 << 53) && n.to_string() == a.id);
        match (numeric, run.as_mut()) {
            (Some(n), Some((first, count))) if *first + *count == n => *count += 1,
            (Some(n), _) => {
                flush(&mut out, &mut run);
                run = Some((n, 1));
            }
            (None, _) => {
                flush(&mut out, &mut run);
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(a.id.clone()).to_string());
            }
        }
    }
    flush(&mut out, &mut run);
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_support::{raw, test_queue};

    fn batch(names: &[&str]) -> String {
        let rows: Vec<serde_json::Value> =
            names.iter().map(|n| serde_json::json!([n, {"n": n}, {}, 1_700_000_000_000i64])).collect();
        serde_json::Value::Array(rows).to_string()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_are_added_in_submission_order_while_in_flight_together() {
        let q = test_queue("adder").await;
        let mut c = raw(&q).await;
        // As on a fresh server: the script is not loaded yet.
        redis::cmd("SCRIPT").arg("FLUSH").query_async::<()>(&mut c).await.unwrap();
        let adder = Adder::start(q.clone());
        let names: Vec<String> = (0..40).map(|i| format!("b{i}")).collect();
        // All submitted before any is awaited: they are in flight together.
        let pending: Vec<_> = names
            .iter()
            .map(|n| adder.submit(batch(&[&format!("{n}-1"), &format!("{n}-2"), &format!("{n}-3")])))
            .collect();
        let mut ids = Vec::new();
        for p in pending {
            ids.extend(p.await.unwrap().into_iter().map(|a| a.id));
        }
        assert_eq!(ids, (1..=120).map(|i| i.to_string()).collect::<Vec<_>>());
        let name: String =
            redis::cmd("HGET").arg(q.keys().job("120")).arg("name").query_async(&mut c).await.unwrap();
        assert_eq!(name, "b39-3");
    }

    #[tokio::test]
    async fn batches_queued_together_are_added_together_and_answered_each() {
        let q = test_queue("adder-group").await;
        let adder = Adder::start(q.clone());
        let orphan = serde_json::json!([
            ["orphan", {}, {"parent": {"id": "gone", "queue": q.keys().qualified_name()}}, 1],
            ["kept", {}, {}, 1]
        ])
        .to_string();
        // Submitted before the add task runs: one group, one script call.
        let a = adder.submit(batch(&["a1", "a2"]));
        let b = adder.submit(orphan);
        let c = adder.submit(batch(&["c1"]));
        let ids = |r: Result<Vec<Added>>| r.unwrap().into_iter().map(|a| a.id).collect::<Vec<_>>();
        assert_eq!(ids(a.await), vec!["1", "2"]);
        assert_eq!(b.await.unwrap_err().code, -5);
        // "kept" took id 3 (the orphan took none).
        assert_eq!(ids(c.await), vec!["4"]);
        let mut c = raw(&q).await;
        let wait: Vec<String> =
            redis::cmd("LRANGE").arg(q.keys().key("wait")).arg(0).arg(-1).query_async(&mut c).await.unwrap();
        assert_eq!(wait, vec!["4", "3", "2", "1"]);
    }

    #[tokio::test]
    async fn a_bad_batch_fails_alone_and_a_closed_connection_fails_the_next() {
        let q = test_queue("adder-bad").await;
        let adder = Adder::start(q.clone());
        let bad = adder.submit("[1]".into());
        let good = adder.submit(batch(&["ok"]));
        assert!(bad.await.is_err());
        assert_eq!(good.await.unwrap()[0].id, "1");
        q.connection().close();
        let err = adder.submit(batch(&["late"])).await.unwrap_err();
        assert_eq!(err.message, "Connection is closed.");
    }

    #[test]
    fn a_reply_dropped_unanswered_answers_with_an_error() {
        let (tx, rx) = std::sync::mpsc::channel();
        let answered = tx.clone();
        Reply(Some(Box::new(move |r| answered.send(r.map(|_| ())).unwrap()))).send(Ok(Vec::new()));
        drop(Reply(Some(Box::new(move |r| tx.send(r.map(|_| ())).unwrap()))));
        assert!(rx.recv().unwrap().is_ok());
        assert_eq!(rx.recv().unwrap().unwrap_err().message, "bullmq-native: the add task panicked before answering");
        assert!(rx.recv().is_err(), "each reply answers once");
    }

    #[test]
    fn ids_are_sent_back_with_runs_of_numbers_folded() {
        let added = |ids: &[&str]| -> Vec<Added> {
            ids.iter().map(|id| Added { id: id.to_string(), duplicated: false }).collect()
        };
        assert_eq!(ids_json(&added(&[])), "[]");
        assert_eq!(ids_json(&added(&["1", "2", "3"])), "[[1,3]]");
        assert_eq!(
            ids_json(&added(&["5", "6", "a\"b", "7", "9", "007", "9007199254740993"])),
            r#"[[5,2],"a\"b",[7,1],[9,1],"007","9007199254740993"]"#
        );
    }
}
