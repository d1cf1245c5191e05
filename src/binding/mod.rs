//! The napi layer: argument conversion and errors only; no queue logic.

mod backoff;
mod cron;
mod dedup_api;
mod error;
mod events;
mod flow;
mod job_api;
mod keys;
mod meta_api;
mod moves;
mod queue;
mod queue_api;
mod runner;
mod runtime;
mod scheduler;
mod server_api;
mod test_hooks;
mod types;
mod worker;

use std::sync::Once;

/// Engine logs go through `tracing`; silent unless `BULLMQ_NATIVE_LOG` is set
/// (an `EnvFilter` directive such as `debug` or `bullmq_native=trace`).
pub(crate) fn init_logging() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Ok(filter) = std::env::var("BULLMQ_NATIVE_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .try_init();
        }
    });
}
