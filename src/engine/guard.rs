//! Panics in the engine's tasks.
//!
//! tokio already keeps a panicking task from taking the process down, but
//! whatever waited on that task (a JavaScript promise, a worker waiting for
//! its next job, a QueueEvents waiting for entries) would then wait forever.
//! So each task runs its units of work (an add, one fetch of the run loop, one
//! lock renewal round, one stalled check, one read of the events stream)
//! through [`catch`], which turns a panic into an error the task hands to
//! whoever waits, and logs it; the task then goes on with the next unit, as
//! after a Redis error. [`spawn`] is the net around a whole task.
//!
//! [`injection_point`] lets the tests reach these paths: once [`arm`]ed for a
//! site, the next call there panics. Unarmed, it costs one relaxed load.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};

use futures_util::FutureExt;
use tokio::task::JoinHandle;

use super::error::EngineError;

/// Where a test can make the engine panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// A synchronous export of the binding (`addJobs`).
    Sync,
    /// The add task of a producer, adding a batch.
    Adder,
    /// The worker's run loop, fetching.
    Runner,
    /// The worker finishing a batch of completions.
    Complete,
    /// The QueueEvents reader, with entries read.
    Events,
    /// The worker's stalled checker, before a check.
    Stalled,
}

impl Site {
    const ALL: [Site; 6] = [Site::Sync, Site::Adder, Site::Runner, Site::Complete, Site::Events, Site::Stalled];

    pub fn name(self) -> &'static str {
        match self {
            Site::Sync => "sync",
            Site::Adder => "adder",
            Site::Runner => "runner",
            Site::Complete => "complete",
            Site::Events => "events",
            Site::Stalled => "stalled",
        }
    }

    pub fn parse(name: &str) -> Option<Site> {
        Site::ALL.into_iter().find(|s| s.name() == name)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

static ARMED: AtomicU32 = AtomicU32::new(0);

/// Makes the next [`injection_point`] at `site` panic (once).
pub fn arm(site: Site) {
    ARMED.fetch_or(site.bit(), Ordering::Relaxed);
}

/// Panics here if a test armed `site`, disarming it.
#[inline]
pub fn injection_point(site: Site) {
    if ARMED.load(Ordering::Relaxed) & site.bit() != 0 && ARMED.fetch_and(!site.bit(), Ordering::Relaxed) & site.bit() != 0 {
        panic!("panic injected at the {} site (test hook)", site.name());
    }
}

/// The error a caller gets for a panic in `what`.
pub fn panicked(what: &str, payload: &(dyn Any + Send)) -> EngineError {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    EngineError::other(format!("bullmq-native: the {what} panicked: {message}"))
}

/// The error of a caller whose answer was dropped unsent: the work that was
/// to answer it panicked (its message was logged where it was caught).
pub fn abandoned(what: &str) -> EngineError {
    EngineError::other(format!("bullmq-native: the {what} panicked before answering"))
}

/// Runs `fut`; a panic in it is logged and returned as an error. `fut` is
/// dropped before this returns either way.
pub async fn catch<T>(what: &'static str, fut: impl Future<Output = T>) -> Result<T, EngineError> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(value) => Ok(value),
        Err(payload) => {
            let err = panicked(what, payload.as_ref());
            tracing::error!(task = what, "{}", err.message);
            Err(err)
        }
    }
}

/// Spawns `task` on the current runtime; if it panics, `on_panic` gets the
/// error (after the task's state was dropped).
pub fn spawn<F>(what: &'static str, task: F, on_panic: impl FnOnce(EngineError) + Send + 'static) -> JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(err) = catch(what, task).await {
            on_panic(err);
        }
    })
}

/// Locks a std mutex, recovering it if a holder panicked: a panic is
/// caught and reported where it happened, and what it guarded goes on.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct SetOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_panicking_task_reports_its_message_after_its_state_is_dropped() {
        let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let state = SetOnDrop(dropped.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let seen = dropped.clone();
        spawn(
            "test task",
            async move {
                let _state = state;
                tokio::task::yield_now().await;
                panic!("boom {}", 42);
            },
            move |err| {
                let _ = tx.send((err, seen.load(Ordering::SeqCst)));
            },
        );
        let (err, state_dropped) = rx.await.unwrap();
        assert_eq!(err.message, "bullmq-native: the test task panicked: boom 42");
        assert!(state_dropped);
    }

    #[tokio::test]
    async fn catch_passes_values_through() {
        assert_eq!(catch("x", async { 7 }).await.unwrap(), 7);
        let err = catch("x", async { panic!("static text") }).await.unwrap_err();
        assert_eq!(err.message, "bullmq-native: the x panicked: static text");
    }

    #[test]
    fn an_armed_site_panics_once() {
        // The binding's site: no engine test passes there.
        injection_point(Site::Sync);
        arm(Site::Sync);
        let payload = std::panic::catch_unwind(|| injection_point(Site::Sync)).unwrap_err();
        assert_eq!(panicked("x", payload.as_ref()).message, "bullmq-native: the x panicked: panic injected at the sync site (test hook)");
        injection_point(Site::Sync);
    }

    #[test]
    fn sites_have_names() {
        for site in Site::ALL {
            assert_eq!(Site::parse(site.name()), Some(site));
        }
        assert_eq!(Site::parse("nowhere"), None);
    }
}
