//! Sleeping that a close interrupts, shared by the worker and the events reader.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Sleeps for `d` unless `closing` is set (now or meanwhile, announced through
/// `close_notify`); true when the whole sleep passed without a close.
pub async fn sleep_unless_closed(closing: &AtomicBool, close_notify: &Notify, d: Duration) -> bool {
    // Register before checking the flag, so a close in between is not missed.
    let notified = close_notify.notified();
    if closing.load(Ordering::SeqCst) {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => !closing.load(Ordering::SeqCst),
        _ = notified => false,
    }
}
