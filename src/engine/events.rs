//! The events stream of a queue (`P + "events"`): the reader behind
//! `QueueEvents`, trimming (`Queue.trimEvents`) and the finished check that
//! `job.waitUntilFinished` starts with.
//!
//! The reader runs in a tokio task on a dedicated connection named
//! `{prefix}:{base64(queue)}:qe` as BullMQ names its QueueEvents connections.
//! It loops on `XREAD COUNT n BLOCK blockingTimeout STREAMS events <lastId>`
//! and hands each batch of entries to its sink in one call. A lost connection
//! is reopened and reading resumes after the last id seen; `close` interrupts
//! a blocked read at once and ends the task (which drops the sink).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::Value;
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinHandle;

use super::connection::Connection;
use super::error::{EngineError, Result};
use super::guard::{self, Site};
use super::keys::QueueKeys;
use super::queue::Queue;
use super::reply::as_string;

/// Reply of the `is_finished` pipeline.
type IsFinishedReply = (bool, Option<f64>, Option<f64>, (Option<String>, Option<String>));

/// BullMQ's default `blockingTimeout` of QueueEvents, in milliseconds.
pub const DEFAULT_BLOCKING_TIMEOUT_MS: u64 = 10_000;
/// Most entries one `XREAD` returns (one delivery to the sink).
const BATCH_SIZE: usize = 1000;
/// Waits between attempts while the connection cannot be reopened.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

const READER: &str = "QueueEvents reader";

/// BullMQ's error for a second `run()`.
pub const ALREADY_RUNNING: &str = "Queue Events is already running.";

/// One entry of the events stream: its id and its `[field, value, ...]` pairs
/// in stream order (`event` first for every entry BullMQ or we write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: String,
    pub fields: Vec<String>,
}

impl StreamEntry {
    /// The value of `field`, if the entry has it.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.chunks(2).find(|p| p.len() == 2 && p[0] == field).map(|p| p[1].as_str())
    }
}

/// What the reader hands its sink.
#[derive(Debug)]
pub enum ReaderEvent {
    /// The entries one `XREAD` returned, oldest first.
    Entries(Vec<StreamEntry>),
    /// Reading failed for a reason other than a lost connection (or the
    /// connection could not be reopened); the reader keeps trying.
    Error(EngineError),
}

/// Options of the reader, with BullMQ's names.
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    /// Milliseconds one `XREAD` blocks (`blockingTimeout`; 0 = until an entry
    /// arrives). `None` = BullMQ's 10000.
    pub blocking_timeout: Option<u64>,
    /// Read the entries after this id (`lastEventId`); `None` or `$` = only
    /// entries added after the reader started.
    pub last_event_id: Option<String>,
}

/// The client name of a QueueEvents connection: `{prefix}:{base64(queue)}:qe`.
pub fn events_client_name(keys: &QueueKeys) -> String {
    format!("{}:qe", keys.client_name())
}

struct Shared {
    conn: Connection,
    key: String,
    client_name: String,
    block_ms: u64,
    closing: AtomicBool,
    close_notify: Notify,
    /// The id reading continues after.
    last_id: StdMutex<String>,
}

impl Shared {
    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    fn set_last_id(&self, id: &str) {
        if let Ok(mut guard) = self.last_id.lock() {
            *guard = id.to_string();
        }
    }

    fn last_id(&self) -> String {
        self.last_id.lock().map(|g| g.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Sleeps unless closed meanwhile; false when closing.
    async fn pause(&self, d: Duration) -> bool {
        super::closing::sleep_unless_closed(&self.closing, &self.close_notify, d).await
    }
}

/// Reads a queue's events stream for a `QueueEvents`.
pub struct EventsReader {
    shared: Arc<Shared>,
    /// The connection opened by `open`, until the task takes it.
    conn: Mutex<Option<MultiplexedConnection>>,
    task: Mutex<Option<JoinHandle<()>>>,
    started: AtomicBool,
}

impl EventsReader {
    /// Opens the reader's named connection. Reading starts with `start`.
    pub async fn open(queue: &Queue, options: EventsOptions) -> Result<Self> {
        let client_name = events_client_name(queue.keys());
        let conn = queue.connection().open_blocking(Some(&client_name), &queue.keys().key("events")).await?;
        let last_id = options.last_event_id.filter(|id| !id.is_empty()).unwrap_or_else(|| "$".to_string());
        Ok(Self {
            shared: Arc::new(Shared {
                conn: queue.connection().clone(),
                key: queue.keys().key("events"),
                client_name,
                block_ms: options.blocking_timeout.unwrap_or(DEFAULT_BLOCKING_TIMEOUT_MS),
                closing: AtomicBool::new(false),
                close_notify: Notify::new(),
                last_id: StdMutex::new(last_id),
            }),
            conn: Mutex::new(Some(conn)),
            task: Mutex::new(None),
            started: AtomicBool::new(false),
        })
    }

    /// The id reading continues after (`$` until a start without
    /// `lastEventId` pinned it to the stream's newest entry).
    pub fn last_id(&self) -> String {
        self.shared.last_id()
    }

    pub fn client_name(&self) -> &str {
        &self.shared.client_name
    }

    /// Starts reading. `$` is first resolved to the id of the stream's newest
    /// entry, so nothing added after `start` returns is missed, whenever the
    /// first `XREAD` runs. Every batch goes to `sink` in one call; the reader
    /// waits for the returned future (true = go on, false = stop).
    pub async fn start<F, Fut>(&self, sink: F) -> Result<()>
    where
        F: FnMut(ReaderEvent) -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        if self.shared.is_closing() {
            return Err(EngineError::closed("QueueEvents is closed"));
        }
        if self.started.swap(true, Ordering::SeqCst) {
            return Err(EngineError::other(ALREADY_RUNNING));
        }
        let mut conn = self.conn.lock().await.take();
        if self.shared.last_id() == "$" {
            let pinned = match conn.as_mut() {
                Some(c) => newest_id(c, &self.shared.key).await,
                None => Err(EngineError::closed("QueueEvents is closed")),
            };
            match pinned {
                Ok(id) => self.shared.set_last_id(&id),
                Err(err) => {
                    self.started.store(false, Ordering::SeqCst);
                    *self.conn.lock().await = conn;
                    return Err(err);
                }
            }
        }
        let shared = self.shared.clone();
        let handle = guard::spawn(READER, read_loop(shared, conn, sink), |_| {});
        *self.task.lock().await = Some(handle);
        Ok(())
    }

    /// Stops reading at once (a blocked `XREAD` is abandoned and its
    /// connection dropped) and waits for the task to end.
    pub async fn close(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.close_notify.notify_waiters();
        self.conn.lock().await.take();
        let handle = self.task.lock().await.take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
    }
}

/// The id of the newest entry of `key`, or `0-0` when the stream is empty.
async fn newest_id(conn: &mut MultiplexedConnection, key: &str) -> Result<String> {
    let reply: Value =
        redis::cmd("XREVRANGE").arg(key).arg("+").arg("-").arg("COUNT").arg(1).query_async(conn).await?;
    let entries = parse_entries(&reply);
    Ok(entries.into_iter().next().map(|e| e.id).unwrap_or_else(|| "0-0".to_string()))
}

/// Errors that mean "the connection is gone": reconnect quietly, as BullMQ
/// does not report them from its events loop either.
fn is_connection_error(err: &redis::RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() || err.is_timeout()
}

async fn read_loop<F, Fut>(shared: Arc<Shared>, mut conn: Option<MultiplexedConnection>, mut sink: F)
where
    F: FnMut(ReaderEvent) -> Fut + Send + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let mut retry = RETRY_MIN;
    while !shared.is_closing() {
        let round = guard::catch(READER, read_once(&shared, &mut conn, &mut sink, &mut retry)).await;
        match round {
            Ok(true) => {}
            Ok(false) => break,
            // A panic: reported as a failed read is, then reading resumes
            // after the last entry delivered, on a new connection.
            Err(err) => {
                conn = None;
                if !deliver(&shared, &mut sink, ReaderEvent::Error(err)).await || !shared.pause(retry).await {
                    break;
                }
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// Hands `event` to the sink unless closing; false when the reader must stop.
async fn deliver<F, Fut>(shared: &Shared, sink: &mut F, event: ReaderEvent) -> bool
where
    F: FnMut(ReaderEvent) -> Fut,
    Fut: Future<Output = bool>,
{
    let notified = shared.close_notify.notified();
    if shared.is_closing() {
        return false;
    }
    tokio::select! {
        go_on = sink(event) => go_on && !shared.is_closing(),
        _ = notified => false,
    }
}

/// One round of the reader: (re)opens the connection if needed, reads once
/// and delivers what it read. False when the reader must stop.
async fn read_once<F, Fut>(
    shared: &Shared,
    conn: &mut Option<MultiplexedConnection>,
    sink: &mut F,
    retry: &mut Duration,
) -> bool
where
    F: FnMut(ReaderEvent) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut c = match conn.take() {
        Some(c) => c,
        None => {
            let notified = shared.close_notify.notified();
            if shared.is_closing() {
                return false;
            }
            let opened = tokio::select! {
                r = shared.conn.open_blocking(Some(&shared.client_name), &shared.key) => r,
                _ = notified => return false,
            };
            match opened {
                Ok(c) => c,
                Err(err) => {
                    tracing::warn!(%err, "could not reopen the QueueEvents connection");
                    if !deliver(shared, sink, ReaderEvent::Error(err)).await || !shared.pause(*retry).await {
                        return false;
                    }
                    *retry = (*retry * 2).min(RETRY_MAX);
                    return true;
                }
            }
        }
    };
    let last_id = shared.last_id();
    let cmd = redis::cmd("XREAD")
        .arg("COUNT")
        .arg(BATCH_SIZE)
        .arg("BLOCK")
        .arg(shared.block_ms)
        .arg("STREAMS")
        .arg(&shared.key)
        .arg(&last_id)
        .to_owned();
    let notified = shared.close_notify.notified();
    if shared.is_closing() {
        return false;
    }
    let reply = tokio::select! {
        r = cmd.query_async::<Value>(&mut c) => r,
        _ = notified => return false,
    };
    match reply {
        Ok(reply) => {
            *retry = RETRY_MIN;
            *conn = Some(c);
            let entries = parse_read_reply(&reply);
            if let Some(last) = entries.last() {
                guard::injection_point(Site::Events);
                shared.set_last_id(&last.id);
                return deliver(shared, sink, ReaderEvent::Entries(entries)).await;
            }
            true
        }
        Err(err) => {
            // The connection is dropped either way; the next round reopens it.
            drop(c);
            if is_connection_error(&err) {
                tracing::debug!(%err, "QueueEvents connection lost; reconnecting");
                shared.pause(RETRY_MIN).await
            } else {
                tracing::warn!(%err, "XREAD on the events stream failed");
                if !deliver(shared, sink, ReaderEvent::Error(err.into())).await || !shared.pause(*retry).await {
                    return false;
                }
                *retry = (*retry * 2).min(RETRY_MAX);
                true
            }
        }
    }
}

/// The entries of an `XREAD` reply on one stream (nil = none). Accepts the
/// RESP2 array form and the RESP3 map form.
fn parse_read_reply(reply: &Value) -> Vec<StreamEntry> {
    match reply {
        Value::Array(streams) => streams
            .iter()
            .filter_map(|s| match s {
                Value::Array(pair) if pair.len() == 2 => Some(parse_entries(&pair[1])),
                _ => None,
            })
            .flatten()
            .collect(),
        Value::Map(streams) => streams.iter().flat_map(|(_, entries)| parse_entries(entries)).collect(),
        _ => Vec::new(),
    }
}

/// `[[id, [field, value, ...]], ...]` (an `XRANGE` reply) as entries.
fn parse_entries(v: &Value) -> Vec<StreamEntry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else { return None };
            let id = as_string(pair.first()?)?;
            let fields = match pair.get(1) {
                Some(Value::Array(flat)) => flat.iter().filter_map(as_string).collect(),
                Some(Value::Map(map)) => map
                    .iter()
                    .filter_map(|(k, v)| Some([as_string(k)?, as_string(v)?]))
                    .flatten()
                    .collect(),
                _ => Vec::new(),
            };
            Some(StreamEntry { id, fields })
        })
        .collect()
}

/// Whether a job has finished, as BullMQ's `isFinished` with the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// The job hash does not exist.
    Missing,
    /// Not (yet) completed or failed.
    No,
    /// Completed, with the stored `returnvalue` (JSON text) if any.
    Completed(Option<String>),
    /// Failed, with the stored `failedReason` if any.
    Failed(Option<String>),
}

impl Queue {
    /// Trims the events stream to about `max_length` entries (`XTRIM MAXLEN
    /// ~`, as BullMQ: whole stream nodes go, so a few more may stay). Returns
    /// the number of entries removed.
    pub async fn trim_events(&self, max_length: i64) -> Result<i64> {
        if max_length < 0 {
            return Err(EngineError::invalid(format!("maxLength must be >= 0, got {max_length}")));
        }
        let removed: i64 = redis::cmd("XTRIM")
            .arg(self.keys.key("events"))
            .arg("MAXLEN")
            .arg("~")
            .arg(max_length)
            .query_async(&mut self.cmd())
            .await?;
        Ok(removed)
    }

    /// Whether job `id` completed or failed, read atomically with its value.
    /// The reply: EXISTS, the two ZSCOREs, and HMGET returnvalue failedReason.
    pub async fn is_finished(&self, id: &str) -> Result<Finished> {
        let job_key = self.keys.job(id);
        let (exists, completed, failed, values): IsFinishedReply =
            redis::pipe()
                .atomic()
                .exists(&job_key)
                .zscore(self.keys.key("completed"), id)
                .zscore(self.keys.key("failed"), id)
                .cmd("HMGET")
                .arg(&job_key)
                .arg("returnvalue")
                .arg("failedReason")
                .query_async(&mut self.cmd())
                .await?;
        Ok(if !exists {
            Finished::Missing
        } else if completed.is_some() {
            Finished::Completed(values.0)
        } else if failed.is_some() {
            Finished::Failed(values.1)
        } else {
            Finished::No
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::sync::mpsc;

    use super::*;
    use crate::engine::test_support::{new_job, raw, test_queue};

    type Rx = mpsc::UnboundedReceiver<ReaderEvent>;

    async fn start(q: &Queue, last_event_id: Option<&str>, blocking_timeout: u64) -> (EventsReader, Rx) {
        let reader = EventsReader::open(
            q,
            EventsOptions {
                blocking_timeout: Some(blocking_timeout),
                last_event_id: last_event_id.map(String::from),
            },
        )
        .await
        .unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        reader
            .start(move |ev| {
                let ok = tx.send(ev).is_ok();
                async move { ok }
            })
            .await
            .unwrap();
        (reader, rx)
    }

    async fn xadd(q: &Queue, fields: &[(&str, &str)]) -> String {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(q.keys().key("events")).arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(*v);
        }
        cmd.query_async(&mut raw(q).await).await.unwrap()
    }

    /// The next batch of entries (errors are test failures), with a deadline.
    async fn next_batch(rx: &mut Rx) -> Vec<StreamEntry> {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(ReaderEvent::Entries(e))) => e,
            other => panic!("expected a batch of entries, got {other:?}"),
        }
    }

    /// Entries until `n` have arrived, whatever the batching.
    async fn collect(rx: &mut Rx, n: usize) -> Vec<StreamEntry> {
        let mut out = Vec::new();
        while out.len() < n {
            out.extend(next_batch(rx).await);
        }
        out
    }

    #[tokio::test]
    async fn entries_already_in_the_stream_arrive_as_one_batch_in_order() {
        let q = test_queue("ev-batch").await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(xadd(&q, &[("event", "waiting"), ("jobId", &i.to_string()), ("prev", "delayed")]).await);
        }
        let (reader, mut rx) = start(&q, Some("0-0"), 1000).await;
        let batch = next_batch(&mut rx).await;
        assert_eq!(batch.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), ids);
        assert_eq!(batch[3].fields, vec!["event", "waiting", "jobId", "3", "prev", "delayed"]);
        assert_eq!(batch[3].get("jobId"), Some("3"));
        assert_eq!(reader.last_id(), ids[4]);
        reader.close().await;
    }

    #[tokio::test]
    async fn without_last_event_id_only_newer_entries_are_read() {
        let q = test_queue("ev-new").await;
        xadd(&q, &[("event", "old")]).await;
        let (reader, mut rx) = start(&q, None, 1000).await;
        assert_ne!(reader.last_id(), "$", "start pins $ to the newest id");
        let new_id = xadd(&q, &[("event", "new")]).await;
        let batch = next_batch(&mut rx).await;
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].id, new_id);
        assert_eq!(batch[0].get("event"), Some("new"));
        reader.close().await;
    }

    #[tokio::test]
    async fn an_empty_stream_is_read_from_its_start() {
        let q = test_queue("ev-empty").await;
        let (reader, mut rx) = start(&q, None, 1000).await;
        assert_eq!(reader.last_id(), "0-0");
        q.add_jobs(&[new_job(json!({}), 1_700_000_000_000)]).await.unwrap();
        let got = collect(&mut rx, 2).await;
        let names: Vec<_> = got.iter().map(|e| e.get("event").unwrap_or_default().to_string()).collect();
        assert_eq!(names, vec!["added", "waiting"]);
        reader.close().await;
    }

    #[tokio::test]
    async fn the_connection_is_named_as_bullmq_names_queue_events() {
        let q = test_queue("ev-name").await;
        let (reader, _rx) = start(&q, None, 1000).await;
        let expected = format!("bull:{}:qe", {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(q.keys().name())
        });
        assert_eq!(reader.client_name(), expected);
        let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut raw(&q).await).await.unwrap();
        assert!(list.lines().any(|l| l.contains(&format!(" name={expected} "))), "{list}");
        reader.close().await;
    }

    #[tokio::test]
    async fn close_interrupts_a_blocked_read_and_ends_the_task() {
        let q = test_queue("ev-close").await;
        // Blocks "forever": only an interrupted read lets close return.
        let (reader, mut rx) = start(&q, None, 0).await;
        // Let the loop reach its XREAD.
        let name = reader.client_name().to_string();
        let mut c = raw(&q).await;
        for _ in 0..200 {
            let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut c).await.unwrap();
            if list.lines().any(|l| l.contains(&format!(" name={name} ")) && l.contains("cmd=xread")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tokio::time::timeout(Duration::from_secs(5), reader.close()).await.expect("close did not return");
        // The task ended, dropping the sink.
        assert!(matches!(tokio::time::timeout(Duration::from_secs(5), rx.recv()).await, Ok(None)));
        assert!(reader.start(|_| async { true }).await.is_err(), "a closed reader does not start");
    }

    #[tokio::test]
    async fn a_second_start_fails_with_bullmqs_message() {
        let q = test_queue("ev-twice").await;
        let (reader, _rx) = start(&q, None, 1000).await;
        let err = reader.start(|_| async { true }).await.unwrap_err();
        assert_eq!(err.message, ALREADY_RUNNING);
        reader.close().await;
    }

    #[tokio::test]
    async fn reading_resumes_after_the_connection_is_killed() {
        let q = test_queue("ev-kill").await;
        let (reader, mut rx) = start(&q, None, 500).await;
        let first = xadd(&q, &[("event", "one")]).await;
        assert_eq!(next_batch(&mut rx).await[0].id, first);

        let mut c = raw(&q).await;
        let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut c).await.unwrap();
        let id = list
            .lines()
            .find(|l| l.contains(&format!(" name={} ", reader.client_name())))
            .and_then(|l| l.split(' ').find_map(|kv| kv.strip_prefix("id=")))
            .expect("the reader's connection is listed")
            .to_string();
        let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(&id).query_async(&mut c).await.unwrap();
        assert_eq!(killed, 1);
        // Entries added while the reader is disconnected are not lost.
        let second = xadd(&q, &[("event", "two")]).await;
        let third = xadd(&q, &[("event", "three")]).await;
        let got = collect(&mut rx, 2).await;
        assert_eq!(got.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), vec![second, third]);
        // And it reconnected under the same name.
        let list: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut c).await.unwrap();
        assert!(list.lines().any(|l| l.contains(&format!(" name={} ", reader.client_name()))));
        reader.close().await;
    }

    #[tokio::test]
    async fn trim_events_trims_approximately() {
        let q = test_queue("ev-trim").await;
        let mut c = raw(&q).await;
        let key = q.keys().key("events");
        for i in 0..500 {
            let _: String = redis::cmd("XADD").arg(&key).arg("*").arg("event").arg(i).query_async(&mut c).await.unwrap();
        }
        let removed = q.trim_events(10).await.unwrap();
        let len: i64 = redis::cmd("XLEN").arg(&key).query_async(&mut c).await.unwrap();
        assert!(removed > 0 && (10..500).contains(&len), "removed {removed}, left {len}");
        assert_eq!(removed + len, 500);
        assert!(q.trim_events(-1).await.is_err());
    }

    #[tokio::test]
    async fn is_finished_reports_state_and_value() {
        let q = test_queue("ev-fin").await;
        let mut c = raw(&q).await;
        assert_eq!(q.is_finished("nope").await.unwrap(), Finished::Missing);
        let _: () = redis::cmd("HSET").arg(q.keys().job("a")).arg("name").arg("n").query_async(&mut c).await.unwrap();
        assert_eq!(q.is_finished("a").await.unwrap(), Finished::No);
        let _: () = redis::cmd("HSET").arg(q.keys().job("a")).arg("returnvalue").arg("{\"x\":1}").query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("ZADD").arg(q.keys().key("completed")).arg(1).arg("a").query_async(&mut c).await.unwrap();
        assert_eq!(q.is_finished("a").await.unwrap(), Finished::Completed(Some("{\"x\":1}".into())));
        let _: () = redis::cmd("HSET").arg(q.keys().job("b")).arg("failedReason").arg("boom").query_async(&mut c).await.unwrap();
        let _: () = redis::cmd("ZADD").arg(q.keys().key("failed")).arg(1).arg("b").query_async(&mut c).await.unwrap();
        assert_eq!(q.is_finished("b").await.unwrap(), Finished::Failed(Some("boom".into())));
    }

    #[test]
    fn parses_resp2_and_resp3_read_replies() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let entries = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("event"), bulk("drained")]),
        ])]);
        let resp2 = Value::Array(vec![Value::Array(vec![bulk("k"), entries.clone()])]);
        let resp3 = Value::Map(vec![(bulk("k"), entries)]);
        let expected = vec![StreamEntry { id: "1-0".into(), fields: vec!["event".into(), "drained".into()] }];
        assert_eq!(parse_read_reply(&resp2), expected);
        assert_eq!(parse_read_reply(&resp3), expected);
        assert!(parse_read_reply(&Value::Nil).is_empty());
    }
}
