//! Stalled jobs: the check that moves active jobs whose lock expired back to
//! wait (BullMQ's moveStalledJobsToWait), and the worker's timer that runs it
//! now and every `stalledInterval` until the worker closes.

use std::sync::Arc;
use std::time::Duration;

use super::error::Result;
use super::guard::{self, Site};
use super::queue::{now_ms, Queue};
use super::reply::as_strings;
use super::worker::WorkerCore;

crate::lua_script!(
    /// Moves stalled jobs back to wait (at most once per stalledInterval).
    MOVE_STALLED_JOBS_TO_WAIT => ["includes/common.lua", "moveStalledJobsToWait.lua"]
);

/// Receives the ids each check moved back to wait (none, often), or the
/// error it met; not called once the worker is closing.
pub type StalledListener = Box<dyn Fn(Result<Vec<String>>) + Send + Sync>;

const STALLED_CHECKER: &str = "stalled checker";

impl Queue {
    /// Runs one stalled check unless another worker ran one within
    /// `stalled_interval`; returns the ids moved back to wait. Jobs stalled
    /// more than `max_stalled_count` times get their deferred failure.
    pub async fn move_stalled_jobs_to_wait(
        &self,
        max_stalled_count: i64,
        stalled_interval: i64,
        timestamp: i64,
    ) -> Result<Vec<String>> {
        let mut inv = self.script(&MOVE_STALLED_JOBS_TO_WAIT);
        inv.arg(max_stalled_count).arg(timestamp).arg(stalled_interval);
        let reply: redis::Value = inv.invoke_async(&mut self.cmd()).await?;
        Ok(as_strings(&reply))
    }
}

impl WorkerCore {
    /// Starts the stalled checker: a check now, then one every
    /// `stalledInterval`, on a tokio task that ends when the worker closes or
    /// is dropped. Starting again replaces the running timer. A check that
    /// panics is reported to `listener` as an error, as a failed check is,
    /// and the timer goes on.
    pub fn start_stalled_check_timer(self: &Arc<Self>, listener: StalledListener) {
        if self.is_closing() {
            return;
        }
        let weak = Arc::downgrade(self);
        let task = guard::spawn(
            STALLED_CHECKER,
            async move {
                loop {
                    let Some(core) = weak.upgrade() else { break };
                    if core.is_closing() {
                        break;
                    }
                    let opts = &core.options;
                    let check = async {
                        guard::injection_point(Site::Stalled);
                        core.queue()
                            .move_stalled_jobs_to_wait(opts.max_stalled_count, opts.stalled_interval, now_ms())
                            .await
                    };
                    let checked = guard::catch(STALLED_CHECKER, check).await.and_then(|checked| checked);
                    // Every check is reported, also one that moved nothing: a
                    // traced worker records a span per check, as BullMQ does.
                    if !core.is_closing() {
                        listener(checked);
                    }
                    let interval = Duration::from_millis(opts.stalled_interval.max(1) as u64);
                    drop(core);
                    tokio::time::sleep(interval).await;
                }
            },
            |_| {},
        );
        let previous = self.stalled_timer.lock().ok().and_then(|mut t| t.replace(task.abort_handle()));
        if let Some(previous) = previous {
            previous.abort();
        }
        // A close that raced with this start must still stop the timer.
        if self.is_closing() {
            self.stop_stalled_check_timer();
        }
    }

    /// Stops the stalled checker, if running.
    pub fn stop_stalled_check_timer(&self) {
        if let Some(task) = self.stalled_timer.lock().ok().and_then(|mut t| t.take()) {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::active::FetchSettings;
    use crate::engine::job::NewJob;
    use crate::engine::reply::Fetched;
    use crate::engine::test_support::{new_job, raw, stream_entries, test_queue};
    use crate::engine::worker::WorkerOptions;

    fn job(opts: serde_json::Value) -> NewJob {
        new_job(opts, now_ms())
    }

    async fn expire_lock(q: &Queue, id: &str) {
        let _: () = redis::cmd("DEL").arg(q.keys().lock(id)).query_async(&mut raw(q).await).await.unwrap();
    }

    async fn allow_next_check(q: &Queue) {
        let _: () = redis::cmd("DEL").arg(q.keys().key("stalled-check")).query_async(&mut raw(q).await).await.unwrap();
    }

    #[tokio::test]
    async fn a_job_is_recovered_at_the_second_check_after_its_lock_expired() {
        let q = test_queue("stalled").await;
        let added = q.add_jobs(&[job(json!({})), job(json!({}))]).await.unwrap();
        let Fetched::Job(j) = q.move_to_active("tok", &FetchSettings::default(), now_ms()).await.unwrap() else {
            panic!("expected a job")
        };
        let mut c = raw(&q).await;

        // First check: nothing to recover, the active job becomes a candidate.
        assert!(q.move_stalled_jobs_to_wait(1, 30_000, now_ms()).await.unwrap().is_empty());
        let candidates: Vec<String> =
            redis::cmd("SMEMBERS").arg(q.keys().key("stalled")).query_async(&mut c).await.unwrap();
        assert_eq!(candidates, vec![j.id.clone()]);
        let ttl: i64 = redis::cmd("PTTL").arg(q.keys().key("stalled-check")).query_async(&mut c).await.unwrap();
        assert!(ttl > 0 && ttl <= 30_000);
        // Throttled: a second check within the interval does nothing.
        expire_lock(&q, &j.id).await;
        assert!(q.move_stalled_jobs_to_wait(1, 30_000, now_ms()).await.unwrap().is_empty());

        allow_next_check(&q).await;
        assert_eq!(q.move_stalled_jobs_to_wait(1, 30_000, now_ms()).await.unwrap(), vec![j.id.clone()]);
        let wait: Vec<String> = redis::cmd("LRANGE").arg(q.keys().key("wait")).arg(0).arg(-1).query_async(&mut c).await.unwrap();
        assert_eq!(wait, vec![added[1].id.clone(), j.id.clone()], "recovered jobs run next");
        let (stc, defa): (String, Option<String>) =
            redis::cmd("HMGET").arg(q.keys().job(&j.id)).arg(&["stc", "defa"]).query_async(&mut c).await.unwrap();
        assert_eq!((stc.as_str(), defa), ("1", None));
        let entries = stream_entries(&q).await;
        let tail = &entries[entries.len() - 2..];
        assert_eq!(tail[0], ["event", "waiting", "jobId", j.id.as_str(), "prev", "active"]);
        assert_eq!(tail[1], ["event", "stalled", "jobId", j.id.as_str()]);
    }

    #[tokio::test]
    async fn past_max_stalled_count_the_job_is_handed_out_with_its_deferred_failure() {
        let q = test_queue("stalled-defa").await;
        let added = q.add_jobs(&[job(json!({"attempts": 5})), job(json!({}))]).await.unwrap();
        let opts = WorkerOptions { max_stalled_count: 0, ..WorkerOptions::default() };
        let core = WorkerCore::open(q.clone(), opts).await.unwrap();
        let first = core.fetch("tok").await.unwrap().unwrap();
        assert_eq!(first.id, added[0].id);
        q.move_stalled_jobs_to_wait(0, 30_000, now_ms()).await.unwrap();
        expire_lock(&q, &first.id).await;
        allow_next_check(&q).await;
        assert_eq!(q.move_stalled_jobs_to_wait(0, 30_000, now_ms()).await.unwrap(), vec![first.id.clone()]);
        let mut c = raw(&q).await;
        let defa: Option<String> = redis::cmd("HGET").arg(q.keys().job(&first.id)).arg("defa").query_async(&mut c).await.unwrap();
        assert_eq!(defa.as_deref(), Some("job stalled more than allowable limit"));

        // The stalled job runs next and is handed out with its deferred
        // failure: the worker fails it (as BullMQ's does) instead of running it.
        let next = core.fetch("tok").await.unwrap().unwrap();
        assert_eq!(next.id, first.id);
        assert_eq!(next.get("defa"), Some("job stalled more than allowable limit"));
        assert_eq!(next.get("stc"), Some("1"));
        core.close().await;
    }

    #[tokio::test]
    async fn the_timer_reports_recovered_jobs_and_stops_on_close() {
        let q = test_queue("stalled-timer").await;
        q.add_jobs(&[job(json!({}))]).await.unwrap();
        let opts = WorkerOptions {
            stalled_interval: 50,
            fetch: FetchSettings { lock_duration: 20, ..FetchSettings::default() },
            ..WorkerOptions::default()
        };
        let core = WorkerCore::open(q.clone(), opts).await.unwrap();
        let taken = core.fetch("tok").await.unwrap().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        core.start_stalled_check_timer(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        // The first check may come before the lock expired: it reports no job.
        let moved = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let ids = rx.recv().await.unwrap().unwrap();
                if !ids.is_empty() {
                    break ids;
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(moved, vec![taken.id.clone()]);
        core.close().await;
        assert!(core.stalled_timer.lock().unwrap().is_none());
        // The task ended: its listener (and the channel's sender) is gone.
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            while rx.recv().await.is_some() {}
        })
        .await;
        assert!(closed.is_ok());
    }
}
