//! BullMQ's built-in backoff strategies, for `Backoffs.calculate`.

use napi_derive::napi;

use super::error::IntoNapi;
use crate::engine::backoff::Backoff;

/// The delay before retry number `attemptsMade` (1 for the first retry) of a
/// job with this `backoff` option; undefined without a backoff or for a
/// strategy that is not built in.
#[napi(catch_unwind)]
pub fn backoff_delay(backoff: serde_json::Value, attempts_made: i64) -> napi::Result<Option<i64>> {
    let parsed = Backoff::from_option(Some(&backoff)).napi()?;
    Ok(parsed.and_then(|b| b.delay_for(attempts_made, rand::random::<f64>())))
}
