//! What BullMQ 6.7's client decides before its scheduler scripts run, for an
//! upsert and for the iteration that follows a fetched one: the checks and
//! their messages, the end of a schedule (`limit`, `endDate`), the time of a
//! pattern's next iteration, and the stored options of the iteration.
//! `every` times are computed by the scripts, atomically with the previous
//! iteration they depend on.

use serde_json::{Map, Value};

use super::super::cron::{CronOptions, CronSchedule};
use super::super::error::{EngineError, Result};
use super::super::job::stored_names;

/// How the time of a pattern's next iteration is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// BullMQ's default: the cron pattern (with `tz`, `startDate`,
    /// `endDate`, `immediately`).
    Default,
    /// The caller's own strategy (`settings.repeatStrategy`) gave this time;
    /// `None` means "no next iteration".
    Given(Option<i64>),
}

/// An iteration to create, as the scheduler scripts take it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// A pattern's next time; `None` for `every` (the script computes it).
    pub next_millis: Option<i64>,
    /// The iteration's options in public form, without `delay` and `jobId`
    /// (what BullMQ's returned Job carries).
    pub opts: Map<String, Value>,
    /// The offset given for an `every` scheduler (BullMQ's `newOffset`).
    pub offset: Option<i64>,
}

impl Plan {
    /// The iteration's stored options, as JSON.
    pub fn stored_opts_json(&self) -> String {
        Value::Object(stored_names(&self.opts)).to_string()
    }
}

/// JavaScript truthiness of an option value.
pub(super) fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0 && !f.is_nan()),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

/// A number option as milliseconds (integer part).
pub(super) fn millis(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

fn error(message: &str) -> EngineError {
    EngineError::other(message)
}

/// The checks BullMQ makes on every upsert (and again for each next
/// iteration), with its messages.
pub fn check(repeat: &Map<String, Value>, opts: &Map<String, Value>) -> Result<()> {
    let every = truthy(repeat.get("every"));
    let pattern = truthy(repeat.get("pattern"));
    if pattern && every {
        return Err(error("Both .pattern and .every options are defined for this repeatable job"));
    }
    if !pattern && !every {
        return Err(error("Either .pattern or .every options must be defined for this repeatable job"));
    }
    if truthy(repeat.get("immediately")) && truthy(repeat.get("startDate")) {
        return Err(error("Both .immediately and .startDate options are defined for this repeatable job"));
    }
    if opts.contains_key("debounce") {
        return Err(error("Debounce option has been removed. Use deduplication option instead"));
    }
    Ok(())
}

/// BullMQ's default repeat strategy for a pattern: the first cron time after
/// `from` (or after `startDate` when that is later), now with
/// `immediately`; `None` past `endDate`.
pub fn pattern_next(repeat: &Map<String, Value>, from: i64, now: i64) -> Result<Option<i64>> {
    let pattern = repeat.get("pattern").and_then(Value::as_str).unwrap_or_default();
    // BullMQ hands all of the repeat options to cron-parser.
    let options = CronOptions {
        tz: repeat.get("tz").and_then(Value::as_str),
        hash_seed: repeat.get("hashSeed").and_then(Value::as_str),
        strict: truthy(repeat.get("strict")),
    };
    let schedule = CronSchedule::parse_with(pattern, &options)?;
    if truthy(repeat.get("immediately")) {
        return Ok(Some(now));
    }
    let start = millis(repeat.get("startDate")).filter(|_| truthy(repeat.get("startDate")));
    let current = start.map_or(from, |s| s.max(from));
    Ok(schedule.next_after(current, millis(repeat.get("endDate")).filter(|_| truthy(repeat.get("endDate")))))
}

/// BullMQ's `getNextMillis`: the next time after `from` of an `every`
/// schedule (the next multiple of the interval, or the current one with
/// `immediately`) or of a pattern (as `pattern_next`).
pub fn next_millis(repeat: &Map<String, Value>, from: i64, now: i64) -> Result<Option<i64>> {
    let every = millis(repeat.get("every")).filter(|_| truthy(repeat.get("every")));
    if every.is_some() && truthy(repeat.get("pattern")) {
        return Err(error("Both .pattern and .every options are defined for this repeatable job"));
    }
    match every {
        Some(every) => {
            let step = if truthy(repeat.get("immediately")) { 0 } else { every };
            Ok(Some(from.div_euclid(every) * every + step))
        }
        None => pattern_next(repeat, from, now),
    }
}

/// Plans the iteration a scheduler creates next (BullMQ's
/// `JobScheduler.upsertJobScheduler` up to its script call): `None` when the
/// schedule is over (`limit` reached, `endDate` past, no pattern time left).
/// `repeat`: the repeat options; `opts`: the job options in public form;
/// `id`: the scheduler id; `now`: the client time.
pub fn plan(
    id: &str,
    repeat: &Map<String, Value>,
    opts: &Map<String, Value>,
    strategy: Strategy,
    now: i64,
) -> Result<Option<Plan>> {
    check(repeat, opts)?;
    let count = millis(repeat.get("count")).filter(|_| truthy(repeat.get("count")));
    let iteration = count.map_or(1, |c| c + 1);
    if let Some(limit) = repeat.get("limit").filter(|v| !v.is_null()) {
        if millis(Some(limit)).is_some_and(|limit| iteration > limit) {
            return Ok(None);
        }
    }
    let end = millis(repeat.get("endDate")).filter(|_| truthy(repeat.get("endDate")));
    if end.is_some_and(|end| now > end) {
        return Ok(None);
    }
    let prev = millis(opts.get("prevMillis")).filter(|_| truthy(opts.get("prevMillis"))).unwrap_or(0);
    let from = now.max(prev);
    let every = truthy(repeat.get("every"));
    let offset = if every { millis(repeat.get("offset")).filter(|_| truthy(repeat.get("offset"))) } else { None };
    let next_millis = if every {
        None
    } else {
        let next = match strategy {
            Strategy::Default => pattern_next(repeat, from, now)?,
            Strategy::Given(next) => next,
        };
        match next {
            Some(next) => Some(next.max(from)),
            None => return Ok(None),
        }
    };

    let mut iteration_repeat: Map<String, Value> =
        repeat.iter().filter(|(k, v)| k.as_str() != "immediately" && !v.is_null()).map(|(k, v)| (k.clone(), v.clone())).collect();
    iteration_repeat.remove("offset");
    if let Some(offset) = offset {
        iteration_repeat.insert("offset".into(), offset.into());
    }
    iteration_repeat.insert("count".into(), iteration.into());
    for date in ["startDate", "endDate"] {
        match millis(repeat.get(date)).filter(|_| truthy(repeat.get(date))) {
            Some(ms) => iteration_repeat.insert(date.into(), ms.into()),
            None => iteration_repeat.remove(date),
        };
    }
    let mut iteration_opts = opts.clone();
    iteration_opts.remove("delay");
    iteration_opts.remove("jobId");
    iteration_opts.insert("repeat".into(), Value::Object(iteration_repeat));
    iteration_opts.insert("timestamp".into(), now.into());
    match next_millis {
        Some(next) => iteration_opts.insert("prevMillis".into(), next.into()),
        None => iteration_opts.remove("prevMillis"),
    };
    iteration_opts.insert("repeatJobKey".into(), id.into());
    Ok(Some(Plan { next_millis, opts: iteration_opts, offset }))
}

/// A job's stored options as BullMQ's Job reads them back (`optsFromJSON`
/// and the Job constructor): public names, `attempts` defaulting to 0, a
/// numeric `backoff` as a fixed one, `repeatJobKey` left out.
pub fn job_opts(stored: &Map<String, Value>) -> Map<String, Value> {
    let mut opts = super::super::job::public_names(stored);
    opts.remove("repeatJobKey");
    opts.entry("attempts").or_insert(Value::from(0));
    if let Some(Value::Number(n)) = opts.get("backoff") {
        let delay = n.clone();
        opts.insert("backoff".into(), serde_json::json!({ "type": "fixed", "delay": delay }));
    }
    opts
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn checks_use_bullmq_messages() {
        let opts = Map::new();
        let msg = |r: Value| check(&map(r), &opts).unwrap_err().message;
        assert_eq!(msg(json!({"every": 1, "pattern": "* * * * *"})), "Both .pattern and .every options are defined for this repeatable job");
        assert_eq!(msg(json!({})), "Either .pattern or .every options must be defined for this repeatable job");
        assert_eq!(
            msg(json!({"pattern": "* * * * *", "immediately": true, "startDate": 5})),
            "Both .immediately and .startDate options are defined for this repeatable job"
        );
        let debounce = map(json!({"debounce": {"id": "x"}}));
        assert_eq!(
            check(&map(json!({"every": 5})), &debounce).unwrap_err().message,
            "Debounce option has been removed. Use deduplication option instead"
        );
    }

    #[test]
    fn limit_and_end_date_end_the_schedule() {
        let opts = Map::new();
        assert!(plan("s", &map(json!({"every": 10, "limit": 2, "count": 2})), &opts, Strategy::Default, 100).unwrap().is_none());
        assert!(plan("s", &map(json!({"every": 10, "limit": 2, "count": 1})), &opts, Strategy::Default, 100).unwrap().is_some());
        assert!(plan("s", &map(json!({"every": 10, "endDate": 99})), &opts, Strategy::Default, 100).unwrap().is_none());
        assert!(plan("s", &map(json!({"pattern": "* * * * *"})), &opts, Strategy::Given(None), 100).unwrap().is_none());
    }

    #[test]
    fn the_iteration_options_are_bullmqs() {
        let opts = map(json!({"attempts": 2, "prevMillis": 5}));
        let p = plan("s", &map(json!({"every": 10, "offset": 3, "immediately": true, "startDate": 7})), &opts, Strategy::Default, 100);
        assert!(p.is_err(), "immediately with startDate");
        let p = plan("s", &map(json!({"every": 10, "offset": 3, "count": 4})), &opts, Strategy::Default, 100).unwrap().unwrap();
        assert_eq!(p.next_millis, None);
        assert_eq!(p.offset, Some(3));
        assert_eq!(
            Value::Object(p.opts),
            json!({"attempts": 2, "repeat": {"every": 10, "offset": 3, "count": 5}, "timestamp": 100, "repeatJobKey": "s"})
        );
        let p = plan("s", &map(json!({"pattern": "0 * * * * *"})), &Map::new(), Strategy::Given(Some(50)), 100).unwrap().unwrap();
        assert_eq!(p.next_millis, Some(100), "a time before now becomes now");
        assert_eq!(p.opts["prevMillis"], json!(100));
    }

    #[test]
    fn a_pattern_runs_after_the_later_of_now_and_start_date() {
        let minute = map(json!({"pattern": "0 * * * * *"}));
        assert_eq!(pattern_next(&minute, 90_000, 90_000).unwrap(), Some(120_000));
        let started = map(json!({"pattern": "0 * * * * *", "startDate": 200_000}));
        assert_eq!(pattern_next(&started, 90_000, 90_000).unwrap(), Some(240_000));
        let ending = map(json!({"pattern": "0 * * * * *", "endDate": 100_000}));
        assert_eq!(pattern_next(&ending, 90_000, 90_000).unwrap(), None);
        let now = map(json!({"pattern": "0 * * * * *", "immediately": true}));
        assert_eq!(pattern_next(&now, 90_000, 95_000).unwrap(), Some(95_000));
    }

    #[test]
    fn next_millis_of_every_and_pattern() {
        assert_eq!(next_millis(&map(json!({"every": 1000})), 2500, 2500).unwrap(), Some(3000));
        assert_eq!(next_millis(&map(json!({"every": 1000, "immediately": true})), 2500, 2500).unwrap(), Some(2000));
        assert_eq!(next_millis(&map(json!({"pattern": "0 * * * * *"})), 90_000, 90_000).unwrap(), Some(120_000));
        assert!(next_millis(&map(json!({"pattern": "* * * * *", "every": 5})), 0, 0).is_err());
    }

    #[test]
    fn stored_options_read_back_as_bullmqs_job_reads_them() {
        let opts = job_opts(&map(json!({"kl": 3, "backoff": 10, "repeatJobKey": "s", "tm": "x"})));
        assert_eq!(
            Value::Object(opts),
            json!({"keepLogs": 3, "backoff": {"type": "fixed", "delay": 10}, "attempts": 0, "telemetry": {"metadata": "x"}})
        );
    }
}
