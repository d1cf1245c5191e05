//! The one place engine errors become JavaScript errors.
//!
//! napi-rs rejects with a plain `Error`, so the kind and BullMQ's numeric code
//! travel in a fixed prefix, `[bullmq-native:<kind>:<code>] `, which the
//! facade (lib/errors.ts) turns back into `TypeError`, `UnrecoverableError`
//! or an `Error` with `code`, and strips from the message.

use crate::engine::{EngineError, ErrorKind};

pub fn to_napi(err: EngineError) -> napi::Error {
    let kind = match err.kind {
        ErrorKind::InvalidArgument => "type",
        ErrorKind::Script => "script",
        ErrorKind::Unrecoverable => "unrecoverable",
        ErrorKind::Redis => "redis",
        ErrorKind::Closed => "closed",
        ErrorKind::Other => "error",
    };
    napi::Error::from_reason(format!("[bullmq-native:{kind}:{}] {}", err.code, err.message))
}

pub fn invalid(message: impl Into<String>) -> napi::Error {
    to_napi(EngineError::invalid(message))
}

/// `?` on engine results inside #[napi] functions.
pub trait IntoNapi<T> {
    fn napi(self) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for Result<T, EngineError> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}
