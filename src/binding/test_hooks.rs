//! Hooks for the Node tests, inert unless the process sets
//! `BULLMQ_NATIVE_TEST_HOOKS=1` (in its environment or in `process.env`
//! before the call).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::invalid;
use crate::engine::guard::{self, Site};

/// Makes the engine panic once, the next time it passes `site`: `sync` (the
/// synchronous `addJobs`), `adder`, `runner`, `complete`, `events` or
/// `stalled` (see `engine::guard::Site`). How the tests check that a panic
/// reaches the caller as an error.
#[napi(js_name = "__injectPanic", catch_unwind)]
pub fn inject_panic(site: String) -> Result<()> {
    if std::env::var_os("BULLMQ_NATIVE_TEST_HOOKS").is_none_or(|v| v != "1") {
        return Err(invalid("__injectPanic: test hooks are off (set BULLMQ_NATIVE_TEST_HOOKS=1)"));
    }
    let armed = Site::parse(&site).ok_or_else(|| invalid(format!("__injectPanic: unknown site {site:?}")))?;
    guard::arm(armed);
    Ok(())
}
