//! JavaScript-facing shapes of engine values that several binding files
//! share. Binding files import these (and `error`), never each other's
//! types, so every file of the binding imports downward only.

use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use serde_json::Value;

use super::error::{invalid, IntoNapi};
use crate::engine::active::{Finish, KeepJobs};
use crate::engine::connection::{ConnectionOptions, NodeAddress};
use crate::engine::control::QueueMeta;
use crate::engine::job::RawJob;
use crate::engine::queue::now_ms;
use crate::engine::reply::Fetched;
use crate::engine::retry::{started_too_often, FailResult, FailedAttempt, FailedTo, FailurePolicy};

/// Connection options after the facade normalized BullMQ's `connection`.
#[napi(object)]
#[derive(Default)]
pub struct BindingConnectionOptions {
    pub url: Option<String>,
    pub host: Option<String>,
    pub port: Option<u32>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: Option<i64>,
    pub tls: Option<bool>,
    pub tls_insecure: Option<bool>,
    /// PEM text of `tls.ca`, `tls.cert`, `tls.key`.
    pub tls_ca: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub connect_timeout: Option<u32>,
    /// Startup nodes of a Redis Cluster.
    pub cluster_nodes: Option<Vec<BindingNodeAddress>>,
    /// Sentinels of the master named `sentinelName`.
    pub sentinels: Option<Vec<BindingNodeAddress>>,
    pub sentinel_name: Option<String>,
    pub sentinel_username: Option<String>,
    pub sentinel_password: Option<String>,
}

/// A `host:port` of a cluster node or a sentinel.
#[napi(object)]
pub struct BindingNodeAddress {
    pub host: String,
    pub port: u32,
}

fn node_addresses(nodes: Option<Vec<BindingNodeAddress>>) -> Option<Vec<NodeAddress>> {
    nodes.map(|n| n.into_iter().map(|a| NodeAddress { host: a.host, port: a.port as u16 }).collect())
}

impl From<BindingConnectionOptions> for ConnectionOptions {
    fn from(o: BindingConnectionOptions) -> Self {
        ConnectionOptions {
            url: o.url,
            host: o.host,
            port: o.port.map(|p| p as u16),
            username: o.username,
            password: o.password,
            db: o.db,
            tls: o.tls.unwrap_or(false),
            tls_insecure: o.tls_insecure.unwrap_or(false),
            tls_ca: o.tls_ca,
            tls_cert: o.tls_cert,
            tls_key: o.tls_key,
            connect_timeout: o.connect_timeout.map(u64::from),
            cluster_nodes: node_addresses(o.cluster_nodes),
            sentinels: node_addresses(o.sentinels),
            sentinel_name: o.sentinel_name,
            sentinel_username: o.sentinel_username,
            sentinel_password: o.sentinel_password,
        }
    }
}

/// A job hash as a flat `[field, value, ...]` list, which JS turns into an
/// object cheaply.
#[napi(object)]
pub struct BindingRawJob {
    pub id: String,
    pub fields: Vec<String>,
}

impl From<RawJob> for BindingRawJob {
    fn from(job: RawJob) -> Self {
        let mut fields = Vec::with_capacity(job.fields.len() * 2);
        for (k, v) in job.fields {
            fields.push(k);
            fields.push(v);
        }
        BindingRawJob { id: job.id, fields }
    }
}

/// Result of a fetch: a job, or why there was none.
#[napi(object)]
pub struct BindingFetched {
    pub job: Option<BindingRawJob>,
    /// Milliseconds the rate limit still holds (0 = not limited).
    pub rate_limited: i64,
    /// Due time of the next delayed job (0 = none).
    pub next_delayed: i64,
}

impl From<Fetched> for BindingFetched {
    fn from(f: Fetched) -> Self {
        match f {
            Fetched::Job(job) => BindingFetched { job: Some(job.into()), rate_limited: 0, next_delayed: 0 },
            Fetched::RateLimited(ms) => BindingFetched { job: None, rate_limited: ms, next_delayed: 0 },
            Fetched::NextDelayed(ts) => BindingFetched { job: None, rate_limited: 0, next_delayed: ts },
            Fetched::Nothing => BindingFetched { job: None, rate_limited: 0, next_delayed: 0 },
        }
    }
}

/// What a producing Queue writes into `meta` when it connects.
#[napi(object)]
pub struct BindingQueueMeta {
    /// `opts.maxLenEvents` (BullMQ's `streams.events.maxLen`, default 10000).
    pub max_len_events: i64,
    /// `version`, e.g. `bullmq-native:0.1.0`.
    pub version: String,
}

impl From<BindingQueueMeta> for QueueMeta {
    fn from(m: BindingQueueMeta) -> Self {
        QueueMeta { max_len_events: m.max_len_events, version: m.version }
    }
}

/// A completion of a job held by `token` (failures are `BindingFailedAttempt`s).
#[napi(object)]
pub struct BindingFinish {
    pub job_id: String,
    pub token: String,
    /// JSON text of the return value (absent: null).
    pub return_value: Option<String>,
    /// The job's `removeOnComplete`, as given.
    pub remove: Option<Value>,
    /// The host's (worker's or queue's) `removeOnComplete`, as given.
    pub default_remove: Option<Value>,
    pub attempts: i64,
    pub fetch_next: bool,
}

impl From<BindingFinish> for Finish {
    fn from(f: BindingFinish) -> Self {
        Finish::completed(
            f.job_id,
            f.token,
            f.return_value.unwrap_or_else(|| "null".to_string()),
            f.remove.as_ref(),
            f.default_remove.as_ref(),
            f.attempts,
            f.fetch_next,
        )
    }
}

/// A failed attempt as the facade reports it.
#[napi(object)]
pub struct BindingFailedAttempt {
    pub job_id: String,
    pub token: String,
    /// The error's message.
    pub reason: String,
    /// The error's stack.
    pub stack: Option<String>,
    /// The job's stack traces so far.
    pub stacktrace: Vec<String>,
    /// Attempts made before this one.
    pub attempts_made: i64,
    /// Times the job was moved to active.
    pub attempts_started: f64,
    /// The error is an UnrecoverableError.
    pub unrecoverable: bool,
    /// The host's `maxStartedAttempts`, as given.
    pub max_started_attempts: Option<f64>,
    /// The delay the worker's custom backoff strategy gave, if it ran.
    pub custom_delay: Option<i64>,
    /// JSON text of the job's options.
    pub opts: String,
    /// The host's `removeOnFail` as given, used when the job has none.
    pub default_remove_on_fail: Option<Value>,
    pub fetch_next: bool,
}

impl TryFrom<BindingFailedAttempt> for FailedAttempt {
    type Error = napi::Error;

    fn try_from(a: BindingFailedAttempt) -> Result<Self> {
        let opts = match serde_json::from_str::<Value>(&a.opts) {
            Ok(Value::Object(map)) => map,
            _ => return Err(invalid("job options must be a JSON object")),
        };
        Ok(FailedAttempt {
            policy: FailurePolicy::from_opts(&opts, KeepJobs::resolve(None, a.default_remove_on_fail.as_ref())).napi()?,
            job_id: a.job_id,
            token: a.token,
            reason: a.reason,
            stack: a.stack,
            stacktrace: a.stacktrace,
            attempts_made: a.attempts_made,
            unrecoverable: a.unrecoverable || started_too_often(a.attempts_started, a.max_started_attempts),
            custom_delay: a.custom_delay,
            fetch_next: a.fetch_next,
            timestamp: now_ms(),
        })
    }
}

/// Where a failed attempt left the job, and the next job if fetched.
#[napi(object)]
pub struct BindingFailed {
    /// `failed`, `delayed` (retry after `delay` ms) or `waiting` (retry now).
    pub state: String,
    pub delay: i64,
    /// The stack traces now stored.
    pub stacktrace: Vec<String>,
    /// Set when the job failed for good.
    pub finished_on: Option<i64>,
    pub next: BindingFetched,
}

pub(super) fn failed_to_js(result: FailResult, timestamp: i64) -> BindingFailed {
    let (state, delay, finished_on) = match result.moved {
        FailedTo::Failed => ("failed", 0, Some(timestamp)),
        FailedTo::Delayed(ms) => ("delayed", ms, None),
        FailedTo::Waiting => ("waiting", 0, None),
    };
    BindingFailed {
        state: state.to_string(),
        delay,
        stacktrace: result.stacktrace,
        finished_on,
        next: result.fetched.into(),
    }
}

/// One report of the run loop.
#[napi(object)]
pub struct BindingRunnerEvent {
    /// `jobs`, `drained`, `stalled`, `locksRenewed`, `lockRenewalFailed`,
    /// `lockLost`, `cancel`, `error` or `ping` (nothing to do: the engine
    /// notes that the call returned, to know the event loop turns).
    pub kind: String,
    /// `jobs`: JSON `[id, token, [field, value, ...], id, ...]`, each job
    /// active and locked by its token.
    pub jobs: Option<String>,
    pub job_ids: Option<Vec<String>>,
    /// `lockLost`: the token of each attempt in `job_ids` that lost its lock.
    pub tokens: Option<Vec<String>>,
    /// `error`: the error in the native error format; `cancel`: the reason;
    /// `completed`: the error when the whole batch failed.
    pub message: Option<String>,
    /// `completed`: the batch number `completeJobs` was given; the results
    /// are in `jobs` (JSON, see `completions_json`).
    pub batch: Option<u32>,
}

/// A strong callback: keeps Node alive until released on close.
pub(super) type RunnerCallback =
    ThreadsafeFunction<BindingRunnerEvent, (), BindingRunnerEvent, Status, false>;
