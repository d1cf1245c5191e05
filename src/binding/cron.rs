//! `cronNextMillis`: the engine's cron next-run time, for the facade and for
//! the parity test against cron-parser.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::error::{invalid, IntoNapi};
use crate::engine::cron::{CronOptions, CronSchedule};

/// A JS time value as `new Date(ms)` keeps it: finite, fraction dropped.
fn time_value(ms: f64, what: &str) -> Result<i64> {
    if !ms.is_finite() {
        return Err(invalid(format!("cronNextMillis: {what} must be a finite number, got {ms}")));
    }
    Ok(ms.trunc() as i64)
}

/// The first run of `pattern` in zone `tz` strictly after `currentMillis`, in
/// ms since the epoch, as BullMQ's scheduler gets it from cron-parser; null
/// when there is none or it would pass `endMillis`. `hashSeed` and `strict`
/// are cron-parser's options of those names. Throws cron-parser's message
/// for a pattern (or zone) it refuses.
#[napi(js_name = "cronNextMillis", catch_unwind)]
pub fn cron_next_millis(
    pattern: String,
    tz: Option<String>,
    current_millis: f64,
    end_millis: Option<f64>,
    hash_seed: Option<String>,
    strict: Option<bool>,
) -> Result<Option<i64>> {
    let current = time_value(current_millis, "currentMillis")?;
    let end = end_millis.map(|ms| time_value(ms, "endMillis")).transpose()?;
    let options = CronOptions {
        tz: tz.as_deref(),
        hash_seed: hash_seed.as_deref(),
        strict: strict.unwrap_or(false),
    };
    let schedule = CronSchedule::parse_with(&pattern, &options).napi()?;
    Ok(schedule.next_after(current, end))
}
