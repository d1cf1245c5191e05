//! Reading script replies (`redis::Value`) into engine types.

use redis::Value;

use super::error::{EngineError, Result};
use super::job::RawJob;

/// Bytes as text, without copying when they are valid UTF-8.
pub fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

pub fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        Value::Double(d) => Some(*d as i64),
        _ => None,
    }
}

pub fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items.iter().filter_map(as_string).collect(),
        _ => Vec::new(),
    }
}

/// What a fetch (moveToActive, or the fetch-next of a finishing script) gave.
#[derive(Debug, Clone)]
pub enum Fetched {
    Job(RawJob),
    /// The rate limit is exhausted for this many more milliseconds.
    RateLimited(i64),
    /// No job now; the earliest delayed job is due at this timestamp.
    NextDelayed(i64),
    Nothing,
}

/// Parses `{jobFields | 0, jobId | 0, rateLimitedForMs, nextDelayedTs}`.
pub fn parse_fetch(v: &Value) -> Result<Fetched> {
    let Value::Array(items) = v else {
        return Ok(Fetched::Nothing);
    };
    if items.len() < 4 {
        return Err(EngineError::other("unexpected reply from the fetch script"));
    }
    if let Value::Array(_) = &items[0] {
        let id = as_string(&items[1]).unwrap_or_default();
        return Ok(Fetched::Job(RawJob::from_flat(id, as_strings(&items[0]))));
    }
    Ok(no_job(items))
}

/// What a 4-element fetch reply without a job says: rate limited, the due
/// time of the next delayed job, or nothing.
pub fn no_job(items: &[Value]) -> Fetched {
    let limited = items.get(2).and_then(as_int).unwrap_or(0);
    if limited > 0 {
        return Fetched::RateLimited(limited);
    }
    let next = items.get(3).and_then(as_int).unwrap_or(0);
    if next > 0 {
        return Fetched::NextDelayed(next);
    }
    Fetched::Nothing
}
