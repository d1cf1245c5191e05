//! The engine's one error type. Script error codes are mapped here, once, to
//! BullMQ's messages so every caller (binding, tests) sees the same text.

use std::fmt;

/// What kind of JavaScript error an engine error should become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input from the caller: becomes a JS `TypeError`.
    InvalidArgument,
    /// A script returned a negative code (BullMQ's error codes).
    Script,
    /// The job cannot be completed and must not be retried (`UnrecoverableError`).
    Unrecoverable,
    /// Redis could not be reached or answered with an error.
    Redis,
    /// The queue or worker was closed.
    Closed,
    /// Anything else.
    Other,
}

#[derive(Debug, Clone)]
pub struct EngineError {
    pub kind: ErrorKind,
    /// BullMQ's numeric code for script errors, 0 otherwise.
    pub code: i64,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, EngineError>;

impl EngineError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::InvalidArgument, code: 0, message: message.into() }
    }

    pub fn other(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Other, code: 0, message: message.into() }
    }

    pub fn closed(message: impl Into<String>) -> Self {
        Self { kind: ErrorKind::Closed, code: 0, message: message.into() }
    }

    /// Builds the error for a negative script return code with BullMQ's message
    /// template. `state` is the state the command expected (e.g. `active`).
    pub fn from_code(code: i64, job_id: &str, command: &str, state: &str) -> Self {
        let message = match code {
            -1 => format!("Missing key for job {job_id}. {command}"),
            -2 => format!("Missing lock for job {job_id}. {command}"),
            -3 => format!("Job {job_id} is not in the {state} state. {command}"),
            -4 => format!("Job {job_id} has pending dependencies. {command}"),
            -5 => format!("Missing key for parent job {job_id}. {command}"),
            -6 => format!("Lock mismatch for job {job_id}. Cmd {command} from {state}"),
            -7 => format!("The parent job {job_id} cannot be replaced. {command}"),
            -8 => format!(
                "Job {job_id} belongs to a job scheduler and cannot be removed directly. {command}"
            ),
            -9 => format!(
                "Cannot complete job {job_id} because it has at least one failed child. {command}"
            ),
            -10 => format!(
                "Cannot create job scheduler iteration - job ID already exists. {command}"
            ),
            -11 => format!(
                "Cannot create job scheduler iteration - current and next time slots already have jobs. {command}"
            ),
            _ => format!("Unknown code {code} error for {job_id}. {command}"),
        };
        let kind = if code == -9 { ErrorKind::Unrecoverable } else { ErrorKind::Script };
        Self { kind, code, message }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EngineError {}

impl From<redis::RedisError> for EngineError {
    fn from(err: redis::RedisError) -> Self {
        // Also inside a pipeline's aggregated failure, hence the text test.
        let text = err.to_string();
        let message = if text.contains("WRONGTYPE") {
            // Only something outside BullMQ's layout gets here: say so.
            format!(
                "a key of the queue holds another Redis type than BullMQ's layout gives it \
                 (written by something other than a BullMQ client?): {text}"
            )
        } else {
            text
        };
        Self { kind: ErrorKind::Redis, code: 0, message }
    }
}

impl From<serde_json::Error> for EngineError {
    fn from(err: serde_json::Error) -> Self {
        Self::invalid(format!("invalid JSON: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_codes_use_bullmq_messages() {
        assert_eq!(
            EngineError::from_code(-2, "7", "moveToFinished", "active").message,
            "Missing lock for job 7. moveToFinished"
        );
        assert_eq!(
            EngineError::from_code(-3, "7", "moveToFinished", "active").message,
            "Job 7 is not in the active state. moveToFinished"
        );
        assert_eq!(EngineError::from_code(-9, "7", "x", "").kind, ErrorKind::Unrecoverable);
        assert_eq!(
            EngineError::from_code(-42, "7", "x", "").message,
            "Unknown code -42 error for 7. x"
        );
    }
}
