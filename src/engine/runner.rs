//! The automatic worker's run loop, on tokio: keeps up to `concurrency` jobs
//! in flight, renews their locks on one timer, runs the stalled checker and
//! answers cancel requests. JavaScript only runs the processor: jobs reach it
//! through one `Sink` (in batches, each job's hash as JSON text), and
//! outcomes come back through `complete_many` / `fail` / `release` /
//! `rate_limited`.
//!
//! Slots: `slots` counts jobs handed out plus fetches under way. The loop
//! reserves slots before each fetch; a finishing job hands its slot to its
//! fetch-next (so a completion yields the next job in the same script call)
//! or gives it back. The loop fetches only when a slot is free, blocks on the
//! marker only after a fetch found nothing (`WorkerCore::get_next_jobs`), and
//! fetches as many jobs as slots are free (up to `MAX_FETCH_BATCH`) in one
//! script call, delivering them together.
//!
//! Completions that JavaScript reports together (`complete_many`) are
//! finished in one script call, each with its fetch-next; a caller outside
//! the runtime (JavaScript's thread) starts it with `spawn`.
//!
//! Lock renewal does not depend on the JavaScript event loop: a processor
//! that blocks it (CPU-bound work) keeps its locks. But a thread that never
//! comes back must not hold its jobs forever: each renewal round sends a
//! `Ping`, which the sink answers once JavaScript ran it; while the oldest
//! unanswered ping is older than `max_event_loop_block`, no lock is renewed,
//! so the locks expire and a stalled check (of any worker) recovers the jobs.
//!
//! Panics: each fetch, renewal round and cancel subscription runs through
//! `guard::catch`; a panic is reported as an `Error` event and the task goes
//! on (a fetch after `run_retry_delay`, as after a Redis error). Slots taken
//! across an await are held by `Held`, which gives them back when dropped,
//! so a panic cannot leak one (`when_idle`, and so close, would wait forever).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::active::{Fetch, Finish, JobText};
use super::cancel::{CancelRegistration, Handler};
use super::error::{EngineError, Result};
use super::guard::{self, lock, Site};
use super::queue::now_ms;
use super::reply::Fetched;
use super::retry::{FailResult, FailedAttempt};
use super::worker::WorkerCore;

/// Largest number of jobs fetched by one script call of the run loop.
const MAX_FETCH_BATCH: usize = 64;

/// A job handed to the processor, active and locked by `token`.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub job: JobText,
    pub token: String,
}

/// What finishing a job gave.
#[derive(Debug, Default)]
pub struct Finished {
    /// The next job, when fetch-next found one.
    pub next: Option<Delivered>,
    /// The fetch-next found none and the queue just became drained.
    pub drained: bool,
}

/// What the runner reports to JavaScript.
#[derive(Debug)]
pub enum RunnerEvent {
    /// Jobs to process.
    Jobs(Vec<Delivered>),
    /// The run loop's fetch found the queue empty (once per transition, as
    /// BullMQ's `drained`; a finish's fetch-next reports it in `Finished`).
    Drained,
    /// This worker's stalled check ran and moved these jobs (often none)
    /// back to wait.
    Stalled(Vec<String>),
    /// These locks were renewed (BullMQ's `locksRenewed`).
    LocksRenewed(Vec<String>),
    /// Renewing the locks of these jobs failed: another worker may have them.
    LockRenewalFailed(Vec<String>),
    /// Attempts in flight here, as (job id, token), whose lock is gone
    /// (moved back to wait as stalled).
    LockLost(Vec<(String, String)>),
    /// `Queue::cancel_job` asked to cancel a job in flight here.
    Cancel { job_id: String, reason: Option<String> },
    /// An error the worker reports (`error` event); the loop goes on.
    Error(EngineError),
    /// Answer with `Pong::answered` once JavaScript's thread ran it: how lock
    /// renewal knows the event loop still turns.
    Ping(Pong),
}

/// The answer to a `Ping`.
#[derive(Debug)]
pub struct Pong(Arc<AtomicI64>);

impl Pong {
    /// JavaScript's thread ran the ping.
    pub fn answered(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

/// How long the event loop may leave a ping unanswered before lock renewal
/// stops, unless the worker says otherwise (`maxEventLoopBlock`).
pub const DEFAULT_MAX_EVENT_LOOP_BLOCK: i64 = 60_000;
/// Jobs processed at once unless the worker says otherwise (BullMQ's `concurrency`).
pub const DEFAULT_CONCURRENCY: usize = 1;
/// Pause after a failed fetch unless the worker says otherwise (BullMQ's `runRetryDelay`).
pub const DEFAULT_RUN_RETRY_DELAY: i64 = 15_000;

/// BullMQ's `lockRenewTime` when the worker gives none: half its lock duration.
pub fn default_lock_renew_time(lock_duration: f64) -> f64 {
    lock_duration / 2.0
}

/// Receives the runner's events (on tokio threads).
pub type Sink = Box<dyn Fn(RunnerEvent) + Send + Sync>;

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub concurrency: usize,
    /// Renew locks every `lock_renew_time / 2` ms; 0 disables renewal.
    pub lock_renew_time: i64,
    pub skip_stalled_check: bool,
    /// Tokens are `{token_prefix}:{n}` (BullMQ: the worker's id).
    pub token_prefix: String,
    /// Pause after a failed fetch (BullMQ's runRetryDelay).
    pub run_retry_delay: i64,
    /// Milliseconds a ping may stay unanswered before locks are no longer
    /// renewed (`maxEventLoopBlock`).
    pub max_event_loop_block: i64,
}

#[derive(Debug)]
struct Tracked {
    token: String,
    /// Last lock renewal (or the fetch).
    renewed_at: i64,
    /// Renewal failed; not renewed again.
    lost: bool,
}

#[derive(Debug, Default)]
struct State {
    jobs: HashMap<String, Tracked>,
    slots: usize,
    drained_reported: bool,
}

pub struct Runner {
    core: Arc<WorkerCore>,
    sink: Sink,
    opts: RunnerOptions,
    concurrency: AtomicUsize,
    paused: AtomicBool,
    stopped: AtomicBool,
    state: Mutex<State>,
    /// Slots freed, resumed, concurrency raised, stopped.
    changed: Notify,
    /// Slots reached 0.
    idle: Notify,
    stop_notify: Notify,
    tokens: AtomicU64,
    tasks: Mutex<Vec<AbortHandle>>,
    /// The runtime the runner was created on, for `spawn`.
    runtime: Option<tokio::runtime::Handle>,
    /// When the unanswered ping was sent (ms); 0 = none outstanding.
    ping_sent_at: Arc<AtomicI64>,
    /// Renewal is held back (the event loop did not answer in time); reported once.
    renewal_held_back: AtomicBool,
}

impl Runner {
    /// A runner that does nothing until `start`.
    pub fn new(core: Arc<WorkerCore>, opts: RunnerOptions, sink: Sink) -> Arc<Runner> {
        Arc::new(Runner {
            concurrency: AtomicUsize::new(opts.concurrency.max(1)),
            core,
            sink,
            opts,
            paused: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            idle: Notify::new(),
            stop_notify: Notify::new(),
            tokens: AtomicU64::new(0),
            tasks: Mutex::new(Vec::new()),
            runtime: tokio::runtime::Handle::try_current().ok(),
            ping_sent_at: Arc::new(AtomicI64::new(0)),
            renewal_held_back: AtomicBool::new(false),
        })
    }

    /// Runs `task` on the runtime the runner was created on: how a caller
    /// outside the runtime (JavaScript's thread) starts `complete_many`
    /// without waiting for it.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) -> Result<()> {
        match &self.runtime {
            Some(runtime) => {
                runtime.spawn(task);
                Ok(())
            }
            None => Err(EngineError::other("the worker runs outside an async runtime")),
        }
    }

    /// Starts the run loop, lock renewal, the stalled checker and the cancel
    /// subscriber (subscribed before the first fetch, so a job handed out can
    /// be cancelled at once).
    pub async fn start(self: &Arc<Self>) {
        if self.stopped() {
            return;
        }
        let registered = match self.serve_cancels().await {
            Ok(registration) => Some(registration),
            Err(err) => {
                self.emit(RunnerEvent::Error(err));
                None
            }
        };
        let task = self.spawn_task(CANCELS, keep_serving_cancels(Arc::downgrade(self), registered));
        self.add_task(task);
        if self.opts.lock_renew_time > 0 {
            let task = self.spawn_task(RENEWAL, renew_locks(Arc::downgrade(self)));
            self.add_task(task);
        }
        self.start_stalled_checker();
        let task = self.spawn_task(RUN_LOOP, self.clone().run_loop());
        self.add_task(task);
    }

    /// Registers this runner's cancel handler on its queue's cancel desk.
    async fn serve_cancels(self: &Arc<Self>) -> Result<CancelRegistration> {
        let weak = Arc::downgrade(self);
        let handler: Handler = Arc::new(move |job_id, reason| weak.upgrade().is_some_and(|r| r.cancel(job_id, reason)));
        self.core.queue().serve_cancels(handler).await
    }

    /// Spawns one of the runner's tasks. They catch panics in their units of
    /// work and go on; a panic outside those is reported here.
    fn spawn_task(
        self: &Arc<Self>,
        what: &'static str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> AbortHandle {
        let weak = Arc::downgrade(self);
        guard::spawn(what, task, move |err| {
            if let Some(runner) = weak.upgrade() {
                runner.emit(RunnerEvent::Error(err));
            }
        })
        .abort_handle()
    }

    fn add_task(&self, task: AbortHandle) {
        lock(&self.tasks).push(task);
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst) || self.core.is_closing()
    }

    fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    fn concurrency(&self) -> usize {
        self.concurrency.load(Ordering::SeqCst)
    }

    fn emit(&self, event: RunnerEvent) {
        (self.sink)(event)
    }

    fn start_stalled_checker(self: &Arc<Self>) {
        if self.opts.skip_stalled_check {
            return;
        }
        let weak = Arc::downgrade(self);
        self.core.start_stalled_check_timer(Box::new(move |checked| {
            let Some(runner) = weak.upgrade() else { return };
            match checked {
                Ok(ids) => runner.stalled(ids),
                Err(err) => runner.emit(RunnerEvent::Error(err)),
            }
        }));
    }

    /// A stalled check moved `ids` back to wait. Those this worker holds
    /// lost their lock, unless the run loop fetched one of them again since
    /// (its new token holds the lock then): `LockLost` names the attempts
    /// whose lock is gone once the locks are read back.
    fn stalled(self: &Arc<Self>, ids: Vec<String>) {
        let held = self.attempts_of(&ids);
        self.emit(RunnerEvent::Stalled(ids));
        if held.is_empty() {
            return;
        }
        let runner = self.clone();
        self.spawn_task(STALLED_LOCKS, async move {
            match runner.core.queue().locks_lost(&held).await {
                Ok(lost) if !lost.is_empty() => runner.emit(RunnerEvent::LockLost(lost)),
                Ok(_) => {}
                Err(err) => runner.emit(RunnerEvent::Error(err)),
            }
        });
    }

    /// The attempts in flight here of these jobs, as (job id, token).
    fn attempts_of(&self, ids: &[String]) -> Vec<(String, String)> {
        let st = self.st();
        ids.iter().filter_map(|id| st.jobs.get(id).map(|t| (id.clone(), t.token.clone()))).collect()
    }

    /// Changes the number of jobs in flight at once; takes effect at once.
    pub fn set_concurrency(&self, concurrency: usize) {
        self.concurrency.store(concurrency.max(1), Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    /// Stops fetching (jobs in flight go on) and the stalled checker.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        self.core.interrupt_wait();
        self.core.stop_stalled_check_timer();
    }

    pub fn resume(self: &Arc<Self>) {
        if self.paused.swap(false, Ordering::SeqCst) {
            self.start_stalled_checker();
        }
        self.changed.notify_waiters();
    }

    /// Stops fetching for good and closes the worker core (a blocked wait
    /// returns at once). Jobs in flight can still be finished; locks are
    /// renewed until `shutdown`.
    pub async fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
        self.stop_notify.notify_waiters();
        self.core.close().await;
    }

    /// Stops everything: fetching, lock renewal, cancel subscription.
    pub async fn shutdown(&self) {
        self.stop().await;
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }

    /// Resolves when no job is in flight and no fetch is under way (while
    /// paused or stopped, the loop starts no new fetch).
    pub async fn when_idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.st().slots == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Ids of the jobs in flight.
    pub fn job_ids(&self) -> Vec<String> {
        self.st().jobs.keys().cloned().collect()
    }

    /// Forwards a cancel request for a job in flight here; false otherwise.
    pub fn cancel(&self, job_id: &str, reason: Option<String>) -> bool {
        if !self.st().jobs.contains_key(job_id) {
            return false;
        }
        self.emit(RunnerEvent::Cancel { job_id: job_id.to_string(), reason });
        true
    }

    fn next_token(&self) -> String {
        format!("{}:{}", self.opts.token_prefix, self.tokens.fetch_add(1, Ordering::SeqCst))
    }

    /// Waits for a free slot and takes it; returns how many slots were free
    /// (this one included), or `None` once stopped.
    async fn reserve_slot(&self) -> Option<usize> {
        loop {
            let notified = self.changed.notified();
            if self.stopped() {
                return None;
            }
            if !self.paused() {
                let c = self.concurrency();
                let mut st = self.st();
                if st.slots < c {
                    st.slots += 1;
                    return Some(c - st.slots + 1);
                }
            }
            notified.await;
        }
    }

    /// Takes up to `n` more free slots; returns how many.
    fn reserve_more(&self, n: usize) -> usize {
        if n == 0 || self.stopped() || self.paused() {
            return 0;
        }
        let c = self.concurrency();
        let mut st = self.st();
        let k = n.min(c.saturating_sub(st.slots));
        st.slots += k;
        k
    }

    fn free_slot(&self) {
        self.free_slots(1);
    }

    fn free_slots(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut st = self.st();
        st.slots = st.slots.saturating_sub(n);
        let idle = st.slots == 0;
        drop(st);
        self.changed.notify_waiters();
        if idle {
            self.idle.notify_waiters();
        }
    }

    /// Records a fetched job (its slot already taken) for lock renewal.
    fn track(&self, job: JobText, token: String) -> Delivered {
        self.track_id(&job.id, &token);
        Delivered { job, token }
    }

    fn track_id(&self, job_id: &str, token: &str) {
        let mut st = self.st();
        st.drained_reported = false;
        st.jobs.insert(job_id.to_string(), Tracked { token: token.to_string(), renewed_at: now_ms(), lost: false });
    }

    /// After a fetch that found no job: true once per transition to drained.
    async fn became_drained(&self) -> bool {
        self.core.is_drained().await && self.report_drained()
    }

    /// The queue is drained: true unless that was reported already.
    fn report_drained(&self) -> bool {
        !std::mem::replace(&mut self.st().drained_reported, true)
    }

    /// The run loop's fetch found no job: reports `drained` on a transition.
    async fn note_empty(&self) {
        if self.became_drained().await {
            self.emit(RunnerEvent::Drained);
        }
    }

    fn deliver(&self, batch: Vec<Delivered>) {
        if !batch.is_empty() {
            self.emit(RunnerEvent::Jobs(batch));
        }
    }

    /// Sleeps `ms` unless stopped meanwhile.
    async fn pause_for(&self, ms: i64) {
        let stop = self.stop_notify.notified();
        if self.stopped() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms.max(1) as u64)) => {}
            _ = stop => {}
        }
    }

    async fn run_loop(self: Arc<Self>) {
        while let Some(free) = self.reserve_slot().await {
            let extra = self.reserve_more(free.min(MAX_FETCH_BATCH) - 1);
            let held = Held { runner: &self, n: extra + 1 };
            if let Err(err) = guard::catch(RUN_LOOP, self.fetch(held)).await {
                if !self.stopped() {
                    self.emit(RunnerEvent::Error(err));
                    self.pause_for(self.opts.run_retry_delay).await;
                }
            }
        }
    }

    /// One fetch of the run loop into the slots `held`, delivering what it found.
    async fn fetch(&self, mut held: Held<'_>) {
        guard::injection_point(Site::Runner);
        let tokens: Vec<String> = (0..held.n).map(|_| self.next_token()).collect();
        match self.core.get_next_jobs(&tokens, true).await {
            Err(err) => {
                drop(held);
                if !self.stopped() {
                    self.emit(RunnerEvent::Error(err));
                    self.pause_for(self.opts.run_retry_delay).await;
                }
            }
            Ok(jobs) => {
                let mut batch = Vec::with_capacity(jobs.len());
                for (job, token) in jobs.into_iter().zip(tokens) {
                    if let Some(job) = job {
                        batch.push(self.track(job, token));
                    }
                }
                // Each job delivered keeps its slot; the others go back.
                held.hand_on(batch.len());
                let missing = held.n;
                drop(held);
                let found = !batch.is_empty();
                self.deliver(batch);
                if missing > 0 {
                    self.note_empty().await;
                }
                if !found {
                    self.core.wait_rate_limit().await;
                }
            }
        }
    }

    /// A job leaves this worker: forgets it and decides whether its slot goes
    /// to a fetch-next (true) or back to the loop.
    fn leave(&self, job_id: &str, token: &str, want_next: bool) -> bool {
        let mut st = self.st();
        if st.jobs.get(job_id).is_some_and(|t| t.token == token) {
            st.jobs.remove(job_id);
        }
        let fetch_next = want_next && !self.stopped() && !self.paused() && st.slots <= self.concurrency();
        drop(st);
        if !fetch_next {
            self.free_slot();
        }
        fetch_next
    }

    /// What a finishing call's fetch-next gave: the next job keeps the slot;
    /// without one, whether the queue just became drained (the caller reports
    /// it after the finish, as BullMQ orders the events).
    async fn next_from(&self, fetched: Fetch, token: &str) -> Finished {
        match fetched {
            Fetch::Job(job) => Finished { next: Some(self.track(job, token.to_string())), drained: false },
            other => Finished { next: None, drained: self.no_next(matches!(other, Fetch::RateLimited(_))).await },
        }
    }

    /// A fetch-next found no job: its slot goes back; true when the queue
    /// just became drained. Recorded last, no job (or a delayed hint) left
    /// the worker drained; a rate limit left the state as it was.
    async fn no_next(&self, rate_limited: bool) -> bool {
        self.free_slot();
        let drained = if rate_limited { self.core.is_drained().await } else { true };
        drained && self.report_drained()
    }

    /// Completes (or finally fails) jobs handed out by this runner in one
    /// script call, each with fetch-next when its slot is to be refilled.
    /// Results in input order.
    pub async fn complete_many(&self, mut finishes: Vec<Finish>) -> Vec<Result<Finished>> {
        for f in finishes.iter_mut() {
            f.fetch_next = self.leave(&f.job_id, &f.token, f.fetch_next);
        }
        // The slots kept for the fetch-nexts.
        let mut held = Held { runner: self, n: finishes.iter().filter(|f| f.fetch_next).count() };
        guard::injection_point(Site::Complete);
        let results = match self.core.finish(&finishes).await {
            Ok(results) => results,
            Err(err) => return finishes.iter().map(|_| Err(err.clone())).collect(),
        };
        let mut out = Vec::with_capacity(finishes.len());
        for (f, result) in finishes.iter().zip(results) {
            if f.fetch_next {
                // Handed to the next job, or given back, below.
                held.hand_on(1);
            }
            out.push(match result {
                Ok(_) if !f.fetch_next => Ok(Finished::default()),
                Ok(fetched) => Ok(self.next_from(fetched, &f.token).await),
                Err(err) => {
                    if f.fetch_next {
                        self.free_slot();
                    }
                    Err(err)
                }
            });
        }
        out
    }

    /// Fails an attempt of a job handed out by this runner (retry or final
    /// failure, decided by the engine); `fetched` holds the next job (same
    /// token, already tracked) when fetch-next found one; the flag says
    /// whether the queue just became drained.
    pub async fn fail(&self, mut attempt: FailedAttempt) -> Result<(FailResult, bool)> {
        attempt.fetch_next = self.leave(&attempt.job_id, &attempt.token, attempt.fetch_next);
        let mut held = Held { runner: self, n: usize::from(attempt.fetch_next) };
        let result = self.core.fail(&attempt).await;
        // From here the slot is handed on or given back explicitly.
        held.hand_on(held.n);
        match result {
            Ok(failed) => {
                let mut drained = false;
                if attempt.fetch_next {
                    match &failed.fetched {
                        Fetched::Job(job) => self.track_id(&job.id, &attempt.token),
                        other => {
                            let rate_limited = matches!(other, Fetched::RateLimited(_));
                            drained = self.no_next(rate_limited).await;
                        }
                    }
                }
                Ok((failed, drained))
            }
            Err(err) => {
                if attempt.fetch_next {
                    self.free_slot();
                }
                Err(err)
            }
        }
    }

    /// A job the processor moved itself (delayed, waiting-children, wait):
    /// forgets it and frees its slot.
    pub fn release(&self, job_id: &str, token: &str) {
        self.leave(job_id, token, false);
    }

    /// A processor threw `RateLimitError`: the job goes back to wait and the
    /// worker fetches nothing until the queue's rate limit expires.
    pub async fn rate_limited(&self, job_id: &str, token: &str) -> Result<i64> {
        {
            let mut st = self.st();
            if st.jobs.get(job_id).is_some_and(|t| t.token == token) {
                st.jobs.remove(job_id);
            }
        }
        let _held = Held { runner: self, n: 1 };
        let result = self.core.queue().move_job_from_active_to_wait(job_id, token).await;
        if let Ok(ttl) = result {
            self.core.limit_for(ttl).await;
        }
        result
    }

    /// How long JavaScript has left a ping unanswered (0 when none is
    /// outstanding; one is sent then).
    fn event_loop_silence(&self, now: i64) -> i64 {
        let sent = self.ping_sent_at.load(Ordering::SeqCst);
        if sent != 0 {
            return now - sent;
        }
        self.ping_sent_at.store(now, Ordering::SeqCst);
        self.emit(RunnerEvent::Ping(Pong(self.ping_sent_at.clone())));
        0
    }

    /// False (reported once) while the event loop has not answered for
    /// longer than `max_event_loop_block`.
    fn event_loop_answers(&self, now: i64) -> bool {
        let silence = self.event_loop_silence(now);
        if silence <= self.opts.max_event_loop_block {
            self.renewal_held_back.store(false, Ordering::SeqCst);
            return true;
        }
        if !self.renewal_held_back.swap(true, Ordering::SeqCst) {
            let err = EngineError::other(format!(
                "the event loop has not answered for {silence} ms (maxEventLoopBlock is {} ms): the locks of \
                 the jobs in flight are no longer renewed, so that they can be recovered as stalled",
                self.opts.max_event_loop_block
            ));
            tracing::warn!(%err, "lock renewal held back");
            // JavaScript reads it once its thread is back.
            self.emit(RunnerEvent::Error(err));
        }
        false
    }

    /// One renewal round: extends the locks of the jobs whose last renewal is
    /// older than half `lock_renew_time`, in one call.
    async fn renew_due_locks(&self) {
        let now = now_ms();
        if self.st().jobs.is_empty() || !self.event_loop_answers(now) {
            return;
        }
        let half = self.opts.lock_renew_time / 2;
        let due: Vec<(String, String)> = {
            let mut st = self.st();
            st.jobs
                .iter_mut()
                .filter(|(_, t)| !t.lost && t.renewed_at + half < now)
                .map(|(id, t)| {
                    t.renewed_at = now;
                    (id.clone(), t.token.clone())
                })
                .collect()
        };
        if due.is_empty() {
            return;
        }
        match self.core.queue().extend_locks(&due, self.core.options.fetch.lock_duration).await {
            Ok(failed) => {
                if !failed.is_empty() {
                    let mut st = self.st();
                    for id in &failed {
                        if let Some(t) = st.jobs.get_mut(id) {
                            t.lost = true;
                        }
                    }
                }
                let renewed: Vec<String> =
                    due.into_iter().map(|(id, _)| id).filter(|id| !failed.contains(id)).collect();
                if !failed.is_empty() {
                    self.emit(RunnerEvent::LockRenewalFailed(failed));
                }
                if !renewed.is_empty() {
                    self.emit(RunnerEvent::LocksRenewed(renewed));
                }
            }
            Err(err) => {
                if !self.core.is_closing() || !self.st().jobs.is_empty() {
                    self.emit(RunnerEvent::Error(err));
                }
            }
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// Slots taken and not handed on yet, given back when dropped.
struct Held<'a> {
    runner: &'a Runner,
    n: usize,
}

impl Held<'_> {
    /// `k` of the slots now belong to jobs (or were given back by the caller).
    fn hand_on(&mut self, k: usize) {
        self.n -= k;
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.runner.free_slots(self.n);
    }
}

const RUN_LOOP: &str = "worker's run loop";
const RENEWAL: &str = "worker's lock renewal";
const CANCELS: &str = "worker's cancel subscriber";
const STALLED_LOCKS: &str = "worker's lost-lock check";

/// Holds the runner's cancel registration until the runner closes (the desk
/// itself resubscribes after a lost connection); registers again every
/// second while the first registration could not be made.
async fn keep_serving_cancels(runner: Weak<Runner>, mut registered: Option<CancelRegistration>) {
    // Aborting this task at close drops the registration.
    while registered.is_none() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(r) = runner.upgrade() else { return };
        registered = r.serve_cancels().await.ok();
    }
    std::future::pending::<()>().await;
}

/// The renewal timer: every `lock_renew_time / 2` while the runner lives.
async fn renew_locks(runner: Weak<Runner>) {
    let period = match runner.upgrade() {
        Some(r) => Duration::from_millis((r.opts.lock_renew_time / 2).max(1) as u64),
        None => return,
    };
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(r) = runner.upgrade() else { return };
        if let Err(err) = guard::catch(RENEWAL, r.renew_due_locks()).await {
            r.emit(RunnerEvent::Error(err));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

    use super::*;
    use crate::engine::active::{FetchSettings, KeepJobs, Outcome};
    use crate::engine::queue::Queue;
    use crate::engine::test_support::{new_job, raw, test_queue};
    use crate::engine::worker::WorkerOptions;

    fn options(concurrency: usize) -> RunnerOptions {
        RunnerOptions {
            concurrency,
            lock_renew_time: 15_000,
            skip_stalled_check: true,
            token_prefix: "w".into(),
            run_retry_delay: 100,
            max_event_loop_block: DEFAULT_MAX_EVENT_LOOP_BLOCK,
        }
    }

    async fn start(q: &Queue, wo: WorkerOptions, ro: RunnerOptions) -> (Arc<Runner>, UnboundedReceiver<RunnerEvent>) {
        let core = WorkerCore::open(q.clone(), wo).await.unwrap();
        let (tx, rx) = unbounded_channel();
        let runner = Runner::new(core, ro, Box::new(move |e| {
            let _ = tx.send(e);
        }));
        runner.start().await;
        (runner, rx)
    }

    fn short_drain() -> WorkerOptions {
        WorkerOptions { drain_delay: 0.2, ..WorkerOptions::default() }
    }

    async fn next_jobs(rx: &mut UnboundedReceiver<RunnerEvent>) -> Vec<Delivered> {
        loop {
            let event = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
            if let RunnerEvent::Jobs(jobs) = event {
                return jobs;
            }
        }
    }

    fn completion(d: &Delivered) -> Finish {
        Finish {
            job_id: d.job.id.clone(),
            token: d.token.clone(),
            outcome: Outcome::Completed("null".into()),
            keep: KeepJobs::default(),
            attempts: 0,
            fetch_next: true,
            timestamp: now_ms(),
        }
    }

    async fn add(q: &Queue, n: usize) {
        let jobs: Vec<_> = (0..n).map(|_| new_job(json!({}), now_ms())).collect();
        q.add_jobs(&jobs).await.unwrap();
    }

    #[tokio::test]
    async fn keeps_concurrency_jobs_in_flight_and_chains_completions() {
        let q = test_queue("runner").await;
        add(&q, 5).await;
        let (runner, mut rx) = start(&q, short_drain(), options(2)).await;
        let mut held = next_jobs(&mut rx).await;
        while held.len() < 2 {
            held.extend(next_jobs(&mut rx).await);
        }
        assert_eq!(held.len(), 2);
        assert_eq!(runner.job_ids().len(), 2);
        // No third job while both slots are taken.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(rx.try_recv().is_err());
        // A completion hands out the next job directly.
        let next = runner.complete_many(vec![completion(&held[0])]).await.remove(0).unwrap().next.unwrap();
        assert_eq!(next.token, held[0].token);
        let mut c = raw(&q).await;
        let lock: String = redis::cmd("GET").arg(q.keys().lock(&next.job.id)).query_async(&mut c).await.unwrap();
        assert_eq!(lock, next.token);
        runner.set_concurrency(3);
        let more = next_jobs(&mut rx).await;
        assert_eq!(more.len(), 1);
        runner.shutdown().await;
    }

    #[tokio::test]
    async fn a_batch_of_completions_refills_the_slots_it_can_and_frees_the_others() {
        let q = test_queue("runner-batch").await;
        add(&q, 5).await;
        let (runner, mut rx) = start(&q, short_drain(), options(3)).await;
        let mut held = next_jobs(&mut rx).await;
        while held.len() < 3 {
            held.extend(next_jobs(&mut rx).await);
        }
        // Two complete (two jobs are left for their fetch-next), one reports
        // with a token that does not hold the lock.
        let mut wrong = completion(&held[2]);
        wrong.token = "someone-else".into();
        let results = runner.complete_many(vec![completion(&held[0]), completion(&held[1]), wrong]).await;
        let nexts: Vec<String> =
            results[..2].iter().map(|r| r.as_ref().unwrap().next.as_ref().unwrap().job.id.clone()).collect();
        assert_eq!(nexts.len(), 2);
        assert!(nexts.iter().all(|id| !held.iter().any(|h| &h.job.id == id)));
        assert_eq!(results[2].as_ref().unwrap_err().code, -6);
        // The job with the wrong token is still tracked (its lock is held)
        // but its slot went back: the loop may fetch into it.
        let mut ids = runner.job_ids();
        ids.sort();
        let mut expected = vec![held[2].job.id.clone(), nexts[0].clone(), nexts[1].clone()];
        expected.sort();
        assert_eq!(ids, expected);
        // The rest finish with nothing left: no next job, the queue drained.
        let rest: Vec<Finish> = results[..2]
            .iter()
            .map(|r| completion(r.as_ref().unwrap().next.as_ref().unwrap()))
            .chain([completion(&held[2])])
            .collect();
        let done = runner.complete_many(rest).await;
        assert!(done.iter().all(|r| r.as_ref().is_ok_and(|f| f.next.is_none())));
        tokio::time::timeout(Duration::from_secs(5), runner.when_idle()).await.unwrap();
        // Drained is reported once: by the loop (its fetch into the freed
        // slot found nothing) or by a finish of this batch.
        let mut drained = done.iter().filter(|r| r.as_ref().unwrap().drained).count();
        while let Ok(event) = rx.try_recv() {
            drained += usize::from(matches!(event, RunnerEvent::Drained));
        }
        assert_eq!(drained, 1, "drained once");
        let mut c = raw(&q).await;
        let completed: i64 = redis::cmd("ZCARD").arg(q.keys().key("completed")).query_async(&mut c).await.unwrap();
        assert_eq!(completed, 5);
        runner.shutdown().await;
    }

    #[tokio::test]
    async fn pause_stops_fetching_until_resume() {
        let q = test_queue("runner-pause").await;
        let (runner, mut rx) = start(&q, WorkerOptions { drain_delay: 5.0, ..WorkerOptions::default() }, options(1)).await;
        // Let the loop block on the marker, then pause: the wait ends at once.
        tokio::time::sleep(Duration::from_millis(100)).await;
        runner.pause();
        tokio::time::timeout(Duration::from_secs(2), runner.when_idle()).await.unwrap();
        add(&q, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!matches!(rx.try_recv(), Ok(RunnerEvent::Jobs(_))));
        runner.resume();
        assert_eq!(next_jobs(&mut rx).await.len(), 1);
        runner.shutdown().await;
    }

    #[tokio::test]
    async fn lost_locks_are_reported_once() {
        let q = test_queue("runner-locks").await;
        add(&q, 1).await;
        let wo = WorkerOptions { fetch: FetchSettings { lock_duration: 5_000, ..FetchSettings::default() }, ..short_drain() };
        let (runner, mut rx) = start(&q, wo, RunnerOptions { lock_renew_time: 40, ..options(1) }).await;
        let job = next_jobs(&mut rx).await.remove(0);
        let mut c = raw(&q).await;
        let _: () = redis::cmd("SET").arg(q.keys().lock(&job.job.id)).arg("thief").query_async(&mut c).await.unwrap();
        let lost = loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap() {
                RunnerEvent::LockRenewalFailed(ids) => break ids,
                _ => continue,
            }
        };
        assert_eq!(lost, vec![job.job.id.clone()]);
        let err = runner.complete_many(vec![completion(&job)]).await.remove(0).unwrap_err();
        assert_eq!(err.code, -6);
        tokio::time::timeout(Duration::from_secs(2), runner.when_idle()).await.unwrap();
        runner.shutdown().await;
    }

    #[tokio::test]
    async fn locks_are_renewed_while_the_event_loop_answers_and_left_to_expire_once_it_does_not() {
        let q = test_queue("runner-liveness").await;
        add(&q, 1).await;
        let wo = WorkerOptions { fetch: FetchSettings { lock_duration: 400, ..FetchSettings::default() }, ..short_drain() };
        let ro = RunnerOptions { lock_renew_time: 200, max_event_loop_block: 600, ..options(1) };
        let core = WorkerCore::open(q.clone(), wo).await.unwrap();
        // The sink answers pings while `answering` (JavaScript's thread is
        // free); otherwise it keeps them for later (the thread is blocked).
        let answering = Arc::new(AtomicBool::new(true));
        let unanswered = Arc::new(Mutex::new(Vec::new()));
        let (tx, mut rx) = unbounded_channel();
        let (a, u) = (answering.clone(), unanswered.clone());
        let runner = Runner::new(core, ro, Box::new(move |e| match e {
            RunnerEvent::Ping(pong) if a.load(Ordering::SeqCst) => pong.answered(),
            RunnerEvent::Ping(pong) => lock(&u).push(pong),
            e => {
                let _ = tx.send(e);
            }
        }));
        runner.start().await;
        let job = next_jobs(&mut rx).await.remove(0);
        let mut c = raw(&q).await;
        let lock_key = q.keys().lock(&job.job.id);
        // Three lock durations with the loop answering: the lock is kept.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let held: Option<String> = redis::cmd("GET").arg(&lock_key).query_async(&mut c).await.unwrap();
        assert_eq!(held.as_deref(), Some(job.token.as_str()));

        answering.store(false, Ordering::SeqCst);
        let reported = loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap() {
                RunnerEvent::Error(err) => break err.message,
                _ => continue,
            }
        };
        assert!(reported.contains("maxEventLoopBlock is 600 ms"), "{reported}");
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let exists: bool = redis::cmd("EXISTS").arg(&lock_key).query_async(&mut c).await.unwrap();
                if !exists {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the lock expires once renewal stopped");

        // The thread is back: renewal resumes and finds the lock gone.
        answering.store(true, Ordering::SeqCst);
        for pong in lock(&unanswered).drain(..) {
            pong.answered();
        }
        let failed = loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap() {
                RunnerEvent::LockRenewalFailed(ids) => break ids,
                _ => continue,
            }
        };
        assert_eq!(failed, vec![job.job.id.clone()]);
        runner.shutdown().await;
    }

    #[tokio::test]
    async fn only_attempts_whose_lock_is_gone_count_as_lost_after_a_stall() {
        let q = test_queue("runner-stalled").await;
        add(&q, 1).await;
        let (runner, mut rx) = start(&q, short_drain(), options(1)).await;
        let job = next_jobs(&mut rx).await.remove(0);
        let attempt = vec![(job.job.id.clone(), job.token.clone())];
        assert_eq!(runner.attempts_of(&[job.job.id.clone(), "other".into()]), attempt);
        // Still held by the attempt's token (the job was fetched again after
        // the check, say): not lost.
        assert!(q.locks_lost(&attempt).await.unwrap().is_empty());
        let mut c = raw(&q).await;
        let lock = q.keys().lock(&job.job.id);
        let _: () = redis::cmd("SET").arg(&lock).arg("someone-else").query_async(&mut c).await.unwrap();
        assert_eq!(q.locks_lost(&attempt).await.unwrap(), attempt);
        let _: () = redis::cmd("DEL").arg(&lock).query_async(&mut c).await.unwrap();
        assert_eq!(q.locks_lost(&attempt).await.unwrap(), attempt);
        runner.shutdown().await;
    }

    #[tokio::test]
    async fn a_cancel_request_reaches_the_worker_holding_the_job() {
        let q = test_queue("runner-cancel").await;
        add(&q, 1).await;
        let (runner, mut rx) = start(&q, short_drain(), options(1)).await;
        let job = next_jobs(&mut rx).await.remove(0);
        assert!(q.cancel_job(&job.job.id, Some("enough")).await.unwrap());
        assert!(!q.cancel_job("nope", None).await.unwrap());
        let cancel = loop {
            match rx.recv().await.unwrap() {
                RunnerEvent::Cancel { job_id, reason } => break (job_id, reason),
                _ => continue,
            }
        };
        assert_eq!(cancel, (job.job.id.clone(), Some("enough".to_string())));
        runner.shutdown().await;
    }
}
