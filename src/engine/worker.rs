//! The worker core: fetch state (drained, rate limit, next delayed), the
//! dedicated blocking connection waiting on the queue's marker, finishing and
//! failing jobs with fetch-next, and close.
//! `getNextJob` of the manual API and the automatic worker both use it; the
//! stalled-job timer is in `stalled.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::{Mutex, Notify};

use super::active::{Fetch, FetchSettings, Finish, JobText};
use super::connection::is_connection_error;
use super::error::{EngineError, Result};
use super::job::RawJob;
use super::queue::{now_ms, Queue};
use super::reply::Fetched;
use super::retry::{FailResult, FailedAttempt};
use super::scheduler::{is_iteration_id, Strategy};

/// Worker options the engine uses, with BullMQ's defaults.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub fetch: FetchSettings,
    /// Seconds to block on the marker when no delayed job is pending.
    pub drain_delay: f64,
    pub stalled_interval: i64,
    pub max_stalled_count: i64,
    /// The worker has its own repeat strategy (`settings.repeatStrategy`):
    /// the next iteration of a pattern scheduler is left to the caller.
    pub external_pattern_strategy: bool,
    /// Longest sleep while rate limited, in ms (BullMQ's
    /// `maximumRateLimitDelay`): delayed jobs are promoted at least this often.
    pub max_rate_limit_delay: i64,
    /// BullMQ's `skipVersionCheck`: the server is taken to be the oldest
    /// supported Redis, so the marker is never blocked on for less than 2 ms.
    pub skip_version_check: bool,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            fetch: FetchSettings::default(),
            drain_delay: 5.0,
            stalled_interval: 30_000,
            max_stalled_count: 1,
            external_pattern_strategy: false,
            max_rate_limit_delay: DEFAULT_MAX_RATE_LIMIT_DELAY_MS,
            skip_version_check: false,
        }
    }
}

/// Receives errors the worker reports without failing a call (BullMQ's
/// `error` event), such as a next scheduler iteration that could not be added.
pub type ErrorSink = Box<dyn Fn(EngineError) + Send + Sync>;

/// Longest block while waiting for a delayed job (BullMQ's cap, its
/// `maximumBlockTimeout`).
pub const MAX_BLOCK_SECS: f64 = 10.0;
/// Default cap on sleeping while rate limited (BullMQ's maximumRateLimitDelay).
pub const DEFAULT_MAX_RATE_LIMIT_DELAY_MS: i64 = 30_000;
/// Shortest marker block on servers that block for 1 ms (Redis 7.0.8+,
/// Valkey, Dragonfly); older Redis treats shorter timeouts as "forever".
const MIN_BLOCK_SECS: f64 = 0.001;
const MIN_BLOCK_SECS_OLD_REDIS: f64 = 0.002;

/// How long to block on the marker, in seconds, as BullMQ's worker computes
/// it (`getBlockTimeout`): until the next delayed job is due (`block_until`,
/// ms; 0 = none known), at least `min_block` and at most 10 s; without a due
/// time, `drain_delay`. A value <= 0 (ms overdue) means "fetch now".
pub fn block_timeout(block_until: f64, now: f64, drain_delay: f64, min_block: f64) -> f64 {
    if block_until != 0.0 && !block_until.is_nan() {
        let delay = block_until - now;
        if delay <= 0.0 {
            delay
        } else if delay < min_block * 1000.0 {
            min_block
        } else {
            (delay / 1000.0).min(MAX_BLOCK_SECS)
        }
    } else {
        drain_delay.max(min_block)
    }
}

/// Whether the server blocks for 1 ms (`INFO server`): any Valkey or
/// Dragonfly, Redis from 7.0.8. Decided as BullMQ 6.7 decides it.
fn blocks_for_1ms(info: &str) -> bool {
    let mut version = None;
    for line in info.lines() {
        if line.contains("dragonfly_version:") || line.contains("server:Dragonfly") {
            return true;
        }
        if line.contains("valkey_version:") || line.contains("server:Valkey") {
            return true;
        }
        if let Some(v) = line.strip_prefix("redis_version:") {
            version = Some(v.trim().to_string());
        }
    }
    let Some(version) = version else { return true };
    let mut parts = version.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    let mut next = || parts.next().and_then(|p| p.parse::<u64>().ok()).unwrap_or(0);
    (next(), next(), next()) >= (7, 0, 8)
}
/// How long past its timeout a `BZPOPMIN` reply is awaited before the
/// connection is considered dead.
const BLOCK_WATCHDOG: Duration = Duration::from_secs(2);
/// Longest single wait on the marker (a day); a longer drainDelay waits again.
const MAX_WAIT: Duration = Duration::from_secs(86_400);
/// Pause between attempts to reopen a lost blocking connection.
const REOPEN_PAUSE: Duration = Duration::from_millis(250);

#[derive(Debug, Default)]
struct FetchState {
    /// The last fetch found nothing: the next blocking call waits on the marker.
    drained: bool,
    /// Due time of the next delayed job, when known.
    block_until: i64,
    /// Rate limited until this time.
    limit_until: i64,
}

pub struct WorkerCore {
    queue: Queue,
    pub options: WorkerOptions,
    state: Mutex<FetchState>,
    blocking: Mutex<Option<MultiplexedConnection>>,
    client_name: String,
    closing: AtomicBool,
    /// A call is blocked on the marker.
    waiting: AtomicBool,
    close_notify: Notify,
    /// `interrupt_wait` was called: the next (or current) marker wait returns
    /// without fetching.
    interrupted: AtomicBool,
    interrupt_notify: Notify,
    /// Shortest marker block in seconds (BullMQ's `minimumBlockTimeout`).
    min_block_secs: f64,
    /// The running stalled-job timer (see `stalled.rs`).
    pub(super) stalled_timer: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
    errors: std::sync::Mutex<Option<ErrorSink>>,
}

impl WorkerCore {
    /// Opens the worker's named blocking connection, which is also what makes
    /// it visible to `getWorkers()`.
    pub async fn open(queue: Queue, options: WorkerOptions) -> Result<Arc<Self>> {
        let name = options.fetch.worker_name.clone();
        let client_name = queue.keys().worker_client_name(Some(name.as_str()));
        let conn = queue.connection().open_blocking(Some(&client_name), &queue.keys().key("marker")).await?;
        let min_block_secs = if options.skip_version_check {
            MIN_BLOCK_SECS_OLD_REDIS
        } else {
            let info: redis::RedisResult<String> =
                redis::cmd("INFO").arg("server").query_async(&mut queue.cmd()).await;
            // A server without INFO (some proxies) is taken to be recent.
            match info {
                Ok(info) if !blocks_for_1ms(&info) => MIN_BLOCK_SECS_OLD_REDIS,
                _ => MIN_BLOCK_SECS,
            }
        };
        Ok(Arc::new(Self {
            queue,
            options,
            min_block_secs,
            state: Mutex::new(FetchState::default()),
            blocking: Mutex::new(Some(conn)),
            client_name,
            closing: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            close_notify: Notify::new(),
            interrupted: AtomicBool::new(false),
            interrupt_notify: Notify::new(),
            stalled_timer: std::sync::Mutex::new(None),
            errors: std::sync::Mutex::new(None),
        }))
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Shortest marker block in seconds (BullMQ's `minimumBlockTimeout`).
    pub fn min_block_secs(&self) -> f64 {
        self.min_block_secs
    }

    /// Where errors that fail no call go (else they are logged).
    pub fn set_error_sink(&self, sink: ErrorSink) {
        if let Ok(mut errors) = self.errors.lock() {
            *errors = Some(sink);
        }
    }

    fn report(&self, err: EngineError) {
        match self.errors.lock() {
            Ok(errors) if errors.is_some() => (errors.as_ref().unwrap())(err),
            _ => tracing::warn!(%err, "worker error"),
        }
    }

    /// A fetched job that is a scheduler iteration produces the scheduler's
    /// next iteration, before it is processed (as BullMQ's worker does). A
    /// failure is reported and the job is processed all the same.
    async fn continue_schedule(&self, job: &RawJob) {
        if !is_iteration_id(&job.id) {
            return;
        }
        let external = self.options.external_pattern_strategy;
        if let Err(err) = self.queue.continue_job_scheduler(job, Strategy::Default, external).await {
            self.report(err);
        }
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Drops the blocking connection without closing the worker (BullMQ's
    /// `disconnect`): a later wait tries to reopen it, which fails once the
    /// command connection is closed too.
    pub async fn drop_blocking(&self) {
        self.blocking.lock().await.take();
    }

    /// Stops blocked calls at once; later calls return no job.
    pub async fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.close_notify.notify_waiters();
        self.stop_stalled_check_timer();
        self.blocking.lock().await.take();
    }

    /// Ends a marker wait in progress (or the next one) without fetching, so
    /// `get_next_job` returns no job: how the automatic worker stops waiting
    /// when it pauses.
    pub fn interrupt_wait(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.interrupt_notify.notify_waiters();
    }

    /// The last fetch found no job (the next blocking call waits on the marker).
    pub async fn is_drained(&self) -> bool {
        self.state.lock().await.drained
    }

    /// Rate limits this worker locally for `ms` (what a job sent back to wait
    /// by a `RateLimitError` reports): `get_next_job` returns no job and
    /// `wait_rate_limit` sleeps until it passed.
    pub async fn limit_for(&self, ms: i64) {
        let mut st = self.state.lock().await;
        st.limit_until = if ms > 0 { now_ms().saturating_add(ms) } else { 0 };
    }

    /// Remembers what a fetch said about rate limits and delayed jobs.
    async fn record(&self, fetched: &Fetched) {
        if let Fetched::Job(_) = fetched {
            return self.record_found().await;
        }
        let mut st = self.state.lock().await;
        match fetched {
            Fetched::Job(_) => {}
            Fetched::RateLimited(ms) => {
                st.limit_until = now_ms() + ms;
            }
            Fetched::NextDelayed(ts) => {
                st.drained = true;
                st.block_until = *ts;
            }
            Fetched::Nothing => {
                st.drained = true;
                st.block_until = 0;
            }
        }
    }

    /// Takes a fetch result: records it and continues the schedule of a
    /// scheduler's iteration. A job with a deferred failure (`defa`: stalled
    /// too often, or a failed child with failParentOnFailure) is handed out
    /// like any other: as in BullMQ, the worker fails it instead of running
    /// its processor, so it reports the failure like every other.
    async fn take(&self, fetched: Fetched) -> Fetched {
        self.record(&fetched).await;
        if let Fetched::Job(job) = &fetched {
            self.continue_schedule(job).await;
        }
        fetched
    }

    /// Takes the results of several fetches made in one call, in order, as
    /// `take` takes each (the state is recorded once for a run of jobs).
    async fn take_each(&self, fetched: Vec<Result<Fetch>>) -> Vec<Result<Fetch>> {
        let mut out = Vec::with_capacity(fetched.len());
        let mut found = false;
        for result in fetched {
            match result {
                Ok(Fetch::Job(job)) => {
                    found = true;
                    if is_iteration_id(&job.id) {
                        match job.to_raw() {
                            Ok(raw) => self.continue_schedule(&raw).await,
                            Err(err) => self.report(err),
                        }
                    }
                    out.push(Ok(Fetch::Job(job)));
                }
                Ok(other) => {
                    if std::mem::take(&mut found) {
                        self.record_found().await;
                    }
                    out.push(match other.into_fetched() {
                        Ok(fetched) => Ok(Fetch::from(self.take(fetched).await)),
                        Err(err) => Err(err),
                    });
                }
                Err(err) => out.push(Err(err)),
            }
        }
        if found {
            self.record_found().await;
        }
        out
    }

    /// What `record` does for a job found.
    async fn record_found(&self) {
        let mut st = self.state.lock().await;
        st.drained = false;
        st.block_until = 0;
        st.limit_until = 0;
    }

    /// Up to `tokens.len()` jobs in one script call, job i locked by
    /// `tokens[i]`; `None` for a token that got no job (the queue ran out).
    pub async fn fetch_many(&self, tokens: &[String]) -> Result<Vec<Option<JobText>>> {
        let fetched = self.queue.fetch_jobs(tokens, &self.options.fetch, now_ms()).await?;
        let taken = self.take_each(fetched.into_iter().map(Ok).collect()).await;
        let mut jobs = Vec::with_capacity(tokens.len());
        for result in taken {
            match result? {
                Fetch::Job(job) => jobs.push(Some(job)),
                _ => jobs.push(None),
            }
        }
        jobs.resize_with(tokens.len(), || None);
        Ok(jobs)
    }

    /// Completes or finally fails jobs in one script call, with the worker's
    /// fetch settings; each fetch-next result is taken as by `fetch`. The
    /// outer error is the call's. The manual API's finish is a batch of one.
    pub async fn finish(&self, finishes: &[Finish]) -> Result<Vec<Result<Fetch>>> {
        let timestamp = finishes.iter().map(|f| f.timestamp).max().unwrap_or_else(now_ms);
        let mut results = self.queue.finish_jobs(finishes, &self.options.fetch, timestamp).await?;
        // Only the results of a fetch-next are taken (recorded); the others
        // pass through.
        let with_next: Vec<usize> = (0..finishes.len()).filter(|&i| finishes[i].fetch_next).collect();
        if with_next.is_empty() {
            return Ok(results);
        }
        let fetched = with_next.iter().map(|&i| std::mem::replace(&mut results[i], Ok(Fetch::Nothing))).collect();
        let taken = self.take_each(fetched).await;
        for (i, result) in with_next.into_iter().zip(taken) {
            results[i] = result;
        }
        Ok(results)
    }

    /// One fetch attempt with `token`.
    pub async fn fetch(&self, token: &str) -> Result<Option<RawJob>> {
        let fetched = self.queue.move_to_active(token, &self.options.fetch, now_ms()).await?;
        match self.take(fetched).await {
            Fetched::Job(job) => Ok(Some(job)),
            _ => Ok(None),
        }
    }

    /// Fails an attempt (retry or final failure) with the worker's fetch
    /// settings; the fetch-next result is taken as by `fetch`.
    pub async fn fail(&self, attempt: &FailedAttempt) -> Result<FailResult> {
        let mut result = self.queue.move_to_failed(attempt, &self.options.fetch).await?;
        if attempt.fetch_next {
            result.fetched = self.take(result.fetched).await;
        }
        Ok(result)
    }

    /// BullMQ's `getNextJob(token, {block})`: the next job, or `None` at the
    /// block timeout, while paused or rate limited, and once closing.
    pub async fn get_next_job(&self, token: &str, block: bool) -> Result<Option<RawJob>> {
        if !self.ready_to_fetch(block).await {
            return Ok(None);
        }
        self.fetch(token).await
    }

    /// `get_next_job` for several tokens: waits as it does, then fetches up
    /// to `tokens.len()` jobs in one call (`fetch_many`); no job at all when
    /// it would return `None` without fetching.
    pub async fn get_next_jobs(&self, tokens: &[String], block: bool) -> Result<Vec<Option<JobText>>> {
        if !self.ready_to_fetch(block).await {
            return Ok(vec![None; tokens.len()]);
        }
        self.fetch_many(tokens).await
    }

    /// What `get_next_job` does before fetching: false when it returns no
    /// job without fetching.
    async fn ready_to_fetch(&self, block: bool) -> bool {
        if self.is_closing() {
            return false;
        }
        let (drained, block_until, limit_until) = {
            let st = self.state.lock().await;
            (st.drained, st.block_until, st.limit_until)
        };
        if limit_until > now_ms() {
            // As BullMQ: while rate limited the call returns at once, without
            // touching Redis; the automatic worker waits with `wait_rate_limit`.
            return false;
        }
        // Only one call blocks on the marker at a time; concurrent callers fetch.
        if drained && block && !self.waiting.swap(true, Ordering::SeqCst) {
            let until = self.wait_for_job(block_until).await;
            self.waiting.store(false, Ordering::SeqCst);
            if self.is_closing() || self.interrupted.swap(false, Ordering::SeqCst) {
                return false;
            }
            if until > 0 && until - now_ms() >= 1 {
                self.state.lock().await.block_until = until;
                return false;
            }
        }
        !self.is_closing()
    }

    /// Sleeps until the rate limit recorded by the last fetch has passed (at
    /// most `maximumRateLimitDelay`); false when the worker closed meanwhile.
    pub async fn wait_rate_limit(&self) -> bool {
        let limit_until = self.state.lock().await.limit_until;
        let now = now_ms();
        if limit_until <= now {
            return !self.is_closing();
        }
        let wait = (limit_until - now).min(self.options.max_rate_limit_delay.max(0));
        let open = self.sleep_unless_closed(Duration::from_millis(wait as u64)).await;
        // As BullMQ, the next fetch goes to Redis even if the limit still
        // holds: it promotes due delayed jobs and reads the limit anew.
        let mut st = self.state.lock().await;
        st.limit_until = 0;
        st.drained = false;
        open
    }

    /// Sleeps; false when the worker closed meanwhile.
    async fn sleep_unless_closed(&self, d: Duration) -> bool {
        super::closing::sleep_unless_closed(&self.closing, &self.close_notify, d).await
    }

    /// Blocks on the marker with `BZPOPMIN`. Returns 0 when a fetch should be
    /// tried now, or the future time a delayed job is due. A lost blocking
    /// connection is reopened (and renamed) and the wait goes on until its
    /// timeout; a reply that never comes is abandoned a little after it.
    async fn wait_for_job(&self, block_until: i64) -> i64 {
        let timeout = block_timeout(block_until as f64, now_ms() as f64, self.options.drain_delay, self.min_block_secs);
        if timeout <= 0.0 {
            return 0;
        }
        // Any drainDelay the facade accepts, however large, gives a deadline.
        let wait = Duration::try_from_secs_f64(timeout).unwrap_or(MAX_WAIT).min(MAX_WAIT);
        let deadline = Instant::now() + wait;
        let marker = self.queue.keys().key("marker");
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if self.is_closing() || remaining.is_zero() {
                return 0;
            }
            let Some(mut conn) = self.blocking_connection().await else {
                // Redis is unreachable: try again shortly, until the wait ends.
                if !self.sleep_unless_closed(remaining.min(REOPEN_PAUSE)).await {
                    return 0;
                }
                continue;
            };
            let secs = remaining.as_secs_f64().max(self.min_block_secs);
            let cmd = redis::cmd("BZPOPMIN").arg(&marker).arg(format!("{secs:.3}")).to_owned();
            let notified = self.close_notify.notified();
            let interrupted = self.interrupt_notify.notified();
            if self.is_closing() || self.interrupted.load(Ordering::SeqCst) {
                return 0;
            }
            let popped = tokio::select! {
                r = tokio::time::timeout(
                    remaining + BLOCK_WATCHDOG,
                    cmd.query_async::<Option<(String, String, f64)>>(&mut conn),
                ) => Some(r),
                _ = notified => return 0,
                _ = interrupted => None,
            };
            let Some(popped) = popped else {
                // The server still blocks this connection: drop it (the next
                // wait opens a new one) so later commands do not queue behind.
                drop(conn);
                self.blocking.lock().await.take();
                return 0;
            };
            match popped {
                Ok(Ok(Some((_, _, score)))) => {
                    let score = score as i64;
                    return if score <= now_ms() { 0 } else { score };
                }
                Ok(Ok(None)) => return 0,
                Ok(Err(err)) if is_connection_error(&err) => {
                    tracing::warn!(%err, "the blocking connection was lost; reopening it");
                    self.blocking.lock().await.take();
                }
                Ok(Err(err)) => {
                    tracing::warn!(%err, "BZPOPMIN failed");
                    self.blocking.lock().await.take();
                    return 0;
                }
                Err(_) => {
                    tracing::warn!("BZPOPMIN did not return in time; reopening the connection");
                    self.blocking.lock().await.take();
                    return 0;
                }
            }
        }
    }

    /// The blocking connection, reopened when it was lost; `None` when Redis
    /// cannot be reached or the worker is closing.
    async fn blocking_connection(&self) -> Option<MultiplexedConnection> {
        if let Some(conn) = self.blocking.lock().await.clone() {
            return Some(conn);
        }
        if self.is_closing() {
            return None;
        }
        // Opened without holding the lock, so close() never waits on a connect.
        let conn = match self.queue.connection().open_blocking(Some(&self.client_name), &self.queue.keys().key("marker")).await {
            Ok(c) => c,
            Err(err) => {
                tracing::warn!(%err, "could not reopen the blocking connection");
                self.queue.connection().report_outage(&err.message);
                return None;
            }
        };
        let mut guard = self.blocking.lock().await;
        if self.is_closing() {
            return None;
        }
        Some(guard.get_or_insert(conn).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_timeout_follows_bullmq() {
        let now = 1_000_000.0;
        assert_eq!(block_timeout(0.0, now, 5.0, 0.001), 5.0);
        assert_eq!(block_timeout(0.0, now, 0.0005, 0.002), 0.002);
        assert_eq!(block_timeout(now + 2500.0, now, 5.0, 0.001), 2.5);
        assert_eq!(block_timeout(now + 60_000.0, now, 5.0, 0.001), MAX_BLOCK_SECS);
        assert_eq!(block_timeout(now + 1.0, now, 5.0, 0.002), 0.002);
        assert_eq!(block_timeout(now - 30.0, now, 5.0, 0.001), -30.0);
        assert_eq!(block_timeout(now, now, 5.0, 0.001), 0.0);
    }

    #[test]
    fn servers_that_block_for_1ms() {
        assert!(blocks_for_1ms("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n"));
        assert!(blocks_for_1ms("redis_version:7.0.8\r\n"));
        assert!(!blocks_for_1ms("redis_version:7.0.7\r\n"));
        assert!(!blocks_for_1ms("redis_version:6.2.14\r\n"));
        assert!(blocks_for_1ms("redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n"));
        assert!(blocks_for_1ms("redis_version:6.2.4\r\ndragonfly_version:df-v1.20.0\r\n"));
    }
}
