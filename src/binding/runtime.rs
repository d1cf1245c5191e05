//! The tokio runtime napi-rs runs our async calls on. The worker's Redis I/O
//! is light (send a script call, parse its reply), and every extra worker
//! thread adds cross-thread wake-ups to each round trip: one worker thread on
//! machines with up to 3 cores, two above. `TOKIO_WORKER_THREADS` overrides.

fn worker_threads() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    if cores >= 4 {
        2
    } else {
        1
    }
}

#[napi_derive::module_init]
fn init_runtime() {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(worker_threads());
    }
    // Without a runtime of ours, napi-rs builds its default one.
    if let Ok(runtime) = builder.build() {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}
