//! Backoff of retried jobs: BullMQ's built-in `fixed` and `exponential`
//! strategies (with jitter), read from a job's `backoff` option.

use serde_json::Value;

use super::error::{EngineError, Result};

/// Which strategy a job's `backoff` names.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Fixed,
    Exponential,
    /// A strategy the user registers in the worker's `settings.backoffStrategy`;
    /// its delay is computed by the caller (JavaScript).
    Custom(String),
}

/// A job's `backoff` option: `N` (fixed, N ms) or `{type, delay?, jitter?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    pub strategy: Strategy,
    /// Milliseconds (the base delay for exponential); 0 when absent.
    pub delay: f64,
    /// 0..1: the share of the delay that is randomized.
    pub jitter: f64,
}

impl Backoff {
    /// Reads the option; `None` when the job has no backoff.
    pub fn from_option(value: Option<&Value>) -> Result<Option<Backoff>> {
        let value = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => v,
        };
        if let Some(delay) = value.as_f64() {
            return Ok(Some(Backoff { strategy: Strategy::Fixed, delay, jitter: 0.0 }));
        }
        let Some(obj) = value.as_object() else {
            return Err(EngineError::invalid("opts.backoff must be a number or an object with a type"));
        };
        let strategy = match obj.get("type").and_then(Value::as_str) {
            Some("fixed") => Strategy::Fixed,
            Some("exponential") => Strategy::Exponential,
            Some(other) => Strategy::Custom(other.to_string()),
            None => return Err(EngineError::invalid("opts.backoff.type must be a string")),
        };
        let delay = obj.get("delay").and_then(Value::as_f64).unwrap_or(0.0);
        let jitter = obj.get("jitter").and_then(Value::as_f64).unwrap_or(0.0);
        if !(0.0..=1.0).contains(&jitter) {
            return Err(EngineError::invalid("Jitter should be between 0 and 1"));
        }
        Ok(Some(Backoff { strategy, delay, jitter }))
    }

    /// The delay before attempt number `attempt` (1 for the first retry),
    /// given `random` in [0, 1). `None` for a custom strategy.
    pub fn delay_for(&self, attempt: i64, random: f64) -> Option<i64> {
        let full = match self.strategy {
            Strategy::Fixed => self.delay,
            Strategy::Exponential => (2f64.powf(attempt.saturating_sub(1) as f64) * self.delay).round(),
            Strategy::Custom(_) => return None,
        };
        let delay = if self.jitter > 0.0 {
            (random * full * self.jitter + full * (1.0 - self.jitter)).floor()
        } else {
            full
        };
        if delay.is_finite() {
            Some(delay as i64)
        } else {
            Some(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backoff(v: Value) -> Backoff {
        Backoff::from_option(Some(&v)).unwrap().unwrap()
    }

    #[test]
    fn a_number_is_a_fixed_delay() {
        let b = backoff(json!(1000));
        assert_eq!(b.strategy, Strategy::Fixed);
        assert_eq!(b.delay_for(1, 0.5), Some(1000));
        assert_eq!(b.delay_for(5, 0.5), Some(1000));
    }

    #[test]
    fn exponential_doubles_per_attempt() {
        let b = backoff(json!({"type": "exponential", "delay": 1000}));
        let delays: Vec<_> = (1..=4).map(|n| b.delay_for(n, 0.9).unwrap()).collect();
        assert_eq!(delays, vec![1000, 2000, 4000, 8000]);
    }

    #[test]
    fn jitter_randomizes_the_given_share_of_the_delay() {
        let fixed = backoff(json!({"type": "fixed", "delay": 1000, "jitter": 0.5}));
        assert_eq!(fixed.delay_for(1, 0.0), Some(500));
        assert_eq!(fixed.delay_for(1, 0.999_999), Some(999));
        let exp = backoff(json!({"type": "exponential", "delay": 1000, "jitter": 0.25}));
        // Attempt 3: up to 4000, at least 3000.
        assert_eq!(exp.delay_for(3, 0.0), Some(3000));
        assert_eq!(exp.delay_for(3, 0.5), Some(3500));
    }

    #[test]
    fn missing_delay_is_zero_and_custom_types_are_left_to_the_caller() {
        assert_eq!(backoff(json!({"type": "fixed"})).delay_for(1, 0.3), Some(0));
        let custom = backoff(json!({"type": "mine", "delay": 10}));
        assert_eq!(custom.strategy, Strategy::Custom("mine".into()));
        assert_eq!(custom.delay_for(1, 0.3), None);
        assert!(Backoff::from_option(None).unwrap().is_none());
        assert!(Backoff::from_option(Some(&json!("x"))).is_err());
        let err = Backoff::from_option(Some(&json!({"type": "fixed", "jitter": 1.5}))).unwrap_err();
        assert_eq!(err.message, "Jitter should be between 0 and 1");
    }
}
