//! TEMPORARY stand-in for the cron module built on branch `cron` (same API):
//! enough of cron-parser's patterns (5 or 6 fields, lists, ranges, steps,
//! month and weekday names, time zones) for the job schedulers to be built
//! and tested. Deleted when that branch is merged.

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

use super::error::{EngineError, Result};

/// A parsed cron pattern with its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    seconds: Vec<u32>,
    minutes: Vec<u32>,
    hours: Vec<u32>,
    days: Vec<u32>,
    months: Vec<u32>,
    weekdays: Vec<u32>,
    any_day: bool,
    any_weekday: bool,
    tz: Tz,
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn invalid(pattern: &str) -> EngineError {
    EngineError::invalid(format!("Invalid cron expression: {pattern}"))
}

fn value(text: &str, names: &[&str], offset: u32) -> Option<u32> {
    if let Ok(n) = text.parse() {
        return Some(n);
    }
    let lower = text.to_ascii_lowercase();
    names.iter().position(|n| *n == lower).map(|i| i as u32 + offset)
}

/// One field's values; `None` as the second element for a wildcard.
fn field(text: &str, min: u32, max: u32, names: &[&str], name_offset: u32) -> Option<(Vec<u32>, bool)> {
    let mut out = Vec::new();
    let wildcard = text == "*" || text == "?";
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|s| *s > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, name_offset)?, value(b, names, name_offset)?)
        } else {
            let v = value(range, names, name_offset)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return None;
        }
        out.extend((lo..=hi).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Some((out, wildcard))
}

impl CronSchedule {
    /// Parses a pattern of 5 (minutes first) or 6 (seconds first) fields.
    pub fn parse(pattern: &str, tz: Option<&str>) -> Result<CronSchedule> {
        let parts: Vec<&str> = pattern.split_whitespace().collect();
        let parts: Vec<&str> = match parts.len() {
            5 => std::iter::once("0").chain(parts).collect(),
            6 => parts,
            _ => return Err(invalid(pattern)),
        };
        let f = |i: usize, min, max, names: &[&str], off| field(parts[i], min, max, names, off).ok_or_else(|| invalid(pattern));
        let (seconds, _) = f(0, 0, 59, &[], 0)?;
        let (minutes, _) = f(1, 0, 59, &[], 0)?;
        let (hours, _) = f(2, 0, 23, &[], 0)?;
        let (days, any_day) = f(3, 1, 31, &[], 0)?;
        let (months, _) = f(4, 1, 12, &MONTHS, 1)?;
        let (mut weekdays, any_weekday) = f(5, 0, 7, &WEEKDAYS, 0)?;
        for d in weekdays.iter_mut() {
            if *d == 7 {
                *d = 0;
            }
        }
        let tz = match tz {
            Some(name) if !name.is_empty() => name.parse::<Tz>().map_err(|_| EngineError::invalid(format!("Invalid timezone: {name}")))?,
            _ => Tz::UTC,
        };
        Ok(CronSchedule { seconds, minutes, hours, days, months, weekdays, any_day, any_weekday, tz })
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        if !self.months.contains(&date.month()) {
            return false;
        }
        let dom = self.days.contains(&date.day());
        let dow = self.weekdays.contains(&date.weekday().num_days_from_sunday());
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (true, false) => dow,
            (false, true) => dom,
            (false, false) => dom || dow,
        }
    }

    /// The first run time strictly after `current_ms`; `None` when there is
    /// none (within about five years) or it is past `end_ms`.
    pub fn next_after(&self, current_ms: i64, end_ms: Option<i64>) -> Option<i64> {
        let start = self.tz.timestamp_millis_opt(current_ms).single()?;
        let mut date = start.date_naive();
        for _ in 0..(366 * 5) {
            if self.day_matches(date) {
                for &h in &self.hours {
                    for &m in &self.minutes {
                        for &s in &self.seconds {
                            let local: NaiveDateTime = date.and_hms_opt(h, m, s)?;
                            for at in self.tz.from_local_datetime(&local).earliest().into_iter().chain(self.tz.from_local_datetime(&local).latest()) {
                                let ms = at.timestamp_millis();
                                if ms > current_ms {
                                    if end_ms.is_some_and(|end| ms > end) {
                                        return None;
                                    }
                                    return Some(ms);
                                }
                            }
                        }
                    }
                }
            }
            date = date.succ_opt()?;
        }
        None
    }
}
