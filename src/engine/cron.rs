//! Next run times of cron `pattern`s, equal to what BullMQ 6.7's job
//! schedulers get from cron-parser 5 (`CronExpressionParser.parse(pattern,
//! { ...repeatOpts, currentDate }).next()`), DST quirks included.
//!
//! - `pattern`: the pattern language and the errors (see `pattern.rs`).
//! - `zone`: which `tz` names are accepted and what no `tz` means.
//! - `wall` and `search`: luxon's wall-clock arithmetic and cron-parser's
//!   walk over it, which together decide the DST behaviour.

mod js;
mod pattern;
mod search;
mod wall;
mod zone;

use crate::engine::{EngineError, Result};
use pattern::Fields;
use zone::Zone;

/// The cron-parser options that change what a pattern means. BullMQ passes
/// all of `repeat`'s options to cron-parser, so `hashSeed` and `strict`
/// given there take effect too.
#[derive(Clone, Copy, Debug, Default)]
pub struct CronOptions<'a> {
    /// IANA zone name (any case), an ICU legacy id such as `PST`, `UTC`,
    /// `UTC+5`, `UTC-03:30`, or `local`; `None` is the process's local zone.
    pub tz: Option<&'a str>,
    /// Seed of the values `H` stands for; without one they are random at
    /// every parse, as in cron-parser.
    pub hash_seed: Option<&'a str>,
    /// cron-parser's `strict`: six fields, not both day fields, no `H` range
    /// or step the field cannot satisfy.
    pub strict: bool,
}

/// A parsed pattern in its time zone.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    fields: Fields,
    zone: Zone,
}

impl CronSchedule {
    /// Parses a pattern as cron-parser reads it: 5 or 6 fields (seconds
    /// first when 6), `*`, `?`, lists, ranges, steps (`*/7`, `3-59/5`), month
    /// and weekday names, `L` in the day of month, `5L` (last Friday), `1#2`
    /// (second Monday), `H` forms, and the macros `@yearly`, `@annually`,
    /// `@monthly`, `@weekly`, `@daily`, `@hourly`, `@minutely`, `@secondly`,
    /// `@weekdays`, `@weekends`. `W` is refused, as by cron-parser. When both
    /// day fields are restricted a day matching either runs.
    ///
    /// `tz` as in [`CronOptions::tz`]. With `None` the zone is the one a Node
    /// process started here would use: the `TZ` variable (read at each call,
    /// as Node follows `process.env.TZ`), else `/etc/localtime`, else UTC.
    ///
    /// Errors carry cron-parser's message. An unknown zone, which
    /// cron-parser reports as `CronDate: unhandled timestamp: <the start
    /// date>`, is reported here with the zone's name in place of the date.
    pub fn parse(pattern: &str, tz: Option<&str>) -> Result<CronSchedule> {
        Self::parse_with(pattern, &CronOptions { tz, ..CronOptions::default() })
    }

    /// [`CronSchedule::parse`] with cron-parser's other options.
    pub fn parse_with(pattern: &str, options: &CronOptions) -> Result<CronSchedule> {
        let fields = pattern::parse(pattern, options.strict, options.hash_seed).map_err(EngineError::other)?;
        let zone = zone::resolve(options.tz).ok_or_else(|| {
            EngineError::other(format!(
                "CronDate: unhandled timestamp: unknown time zone \"{}\"",
                options.tz.unwrap_or_default()
            ))
        })?;
        Ok(CronSchedule { fields, zone })
    }

    /// The first run time strictly after `current_ms` (what `.next()` returns
    /// with `currentDate` = `current_ms`), in ms since the epoch. `None` when
    /// there is none, or it would be after `end_ms` (cron-parser's `endDate`;
    /// BullMQ ignores an `endDate` of 0, so pass `None` then), or cron-parser
    /// would give up its search (10 000 steps, e.g. `0 0 31 2,4 *`).
    ///
    /// Across DST: a time in a spring-forward gap runs at the first hour after
    /// the gap, an hour repeated in autumn runs once (the first time), and a
    /// pattern with every hour runs at each real hour.
    pub fn next_after(&self, current_ms: i64, end_ms: Option<i64>) -> Option<i64> {
        search::next_after(&self.fields, &self.zone, current_ms, end_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    /// Milliseconds of a UTC date-time.
    fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        let days = wall::days_from_civil(y, i64::from(mo), i64::from(d));
        days * 24 * HOUR + i64::from(h) * HOUR + i64::from(mi) * 60_000 + i64::from(s) * 1000
    }

    fn chain(pattern: &str, tz: &str, from: i64, n: usize) -> Vec<i64> {
        let schedule = CronSchedule::parse(pattern, Some(tz)).unwrap();
        let mut out = Vec::new();
        let mut at = from;
        for _ in 0..n {
            at = schedule.next_after(at, None).unwrap();
            out.push(at);
        }
        out
    }

    #[test]
    fn five_field_pattern_in_utc() {
        let start = utc(2025, 1, 1, 0, 0, 0);
        assert_eq!(
            chain("*/20 9 * * mon-fri", "UTC", start, 4),
            vec![
                utc(2025, 1, 1, 9, 0, 0),
                utc(2025, 1, 1, 9, 20, 0),
                utc(2025, 1, 1, 9, 40, 0),
                utc(2025, 1, 2, 9, 0, 0),
            ]
        );
    }

    #[test]
    fn next_is_strictly_after_and_rounds_up_milliseconds() {
        let s = CronSchedule::parse("* * * * * *", Some("UTC")).unwrap();
        assert_eq!(s.next_after(10_000, None), Some(11_000));
        assert_eq!(s.next_after(10_001, None), Some(11_000));
    }

    #[test]
    fn seconds_field_lists_and_last_day() {
        let start = utc(2024, 2, 28, 23, 59, 0);
        assert_eq!(
            chain("10,40 0 12 L * *", "UTC", start, 3),
            vec![utc(2024, 2, 29, 12, 0, 10), utc(2024, 2, 29, 12, 0, 40), utc(2024, 3, 31, 12, 0, 10)]
        );
    }

    #[test]
    fn nth_and_last_weekday() {
        let start = utc(2025, 6, 1, 0, 0, 0);
        // Second Monday of June 2025 is the 9th; last Friday is the 27th.
        assert_eq!(chain("0 8 * * 1#2", "UTC", start, 1), vec![utc(2025, 6, 9, 8, 0, 0)]);
        assert_eq!(chain("0 8 * * 5L", "UTC", start, 1), vec![utc(2025, 6, 27, 8, 0, 0)]);
    }

    #[test]
    fn day_of_month_or_weekday() {
        // The 13th or any Friday: Fri 6 June, then Fri 13 June, then Fri 20 June.
        let start = utc(2025, 6, 1, 0, 0, 0);
        assert_eq!(
            chain("0 0 13 * 5", "UTC", start, 3),
            vec![utc(2025, 6, 6, 0, 0, 0), utc(2025, 6, 13, 0, 0, 0), utc(2025, 6, 20, 0, 0, 0)]
        );
    }

    #[test]
    fn spring_gap_runs_after_the_gap_and_autumn_hour_runs_once() {
        // New York 2025: 9 March 02:00 EST -> 03:00 EDT; 2 November 02:00 EDT -> 01:00 EST.
        let spring = chain("30 2 * * *", "America/New_York", utc(2025, 3, 8, 12, 0, 0), 2);
        assert_eq!(spring, vec![utc(2025, 3, 9, 7, 30, 0), utc(2025, 3, 10, 6, 30, 0)]);
        let autumn = chain("30 1 * * *", "America/New_York", utc(2025, 11, 1, 12, 0, 0), 2);
        assert_eq!(autumn, vec![utc(2025, 11, 2, 5, 30, 0), utc(2025, 11, 3, 6, 30, 0)]);
        let hourly = chain("0 * * * *", "America/New_York", utc(2025, 11, 2, 4, 30, 0), 3);
        assert_eq!(hourly, vec![utc(2025, 11, 2, 5, 0, 0), utc(2025, 11, 2, 6, 0, 0), utc(2025, 11, 2, 7, 0, 0)]);
    }

    #[test]
    fn time_zone_offsets_apply() {
        let start = utc(2025, 1, 1, 0, 0, 0);
        assert_eq!(chain("0 9 * * *", "Asia/Kolkata", start, 1), vec![utc(2025, 1, 1, 3, 30, 0)]);
        assert_eq!(chain("0 9 * * *", "utc+2", start, 1), vec![utc(2025, 1, 1, 7, 0, 0)]);
        let s = CronSchedule::parse("@hourly", Some("UTC")).unwrap();
        assert_eq!(s.next_after(start, None), Some(start + HOUR));
    }

    #[test]
    fn end_date_and_impossible_patterns_give_none() {
        let start = utc(2025, 1, 1, 0, 0, 0);
        let s = CronSchedule::parse("0 12 * * *", Some("UTC")).unwrap();
        assert_eq!(s.next_after(start, Some(start + 12 * HOUR)), Some(start + 12 * HOUR));
        assert_eq!(s.next_after(start, Some(start + 11 * HOUR)), None);
        let never = CronSchedule::parse("0 0 31 2,4 *", Some("UTC")).unwrap();
        assert_eq!(never.next_after(start, None), None);
    }

    #[test]
    fn bad_patterns_and_zones_are_refused_with_cron_parser_messages() {
        let err = CronSchedule::parse("* * * *  * 99", None).unwrap_err();
        assert_eq!(err.message, "Constraint error, got value 99 expected range 0-7");
        let err = CronSchedule::parse("0 * * * *", Some("Mars/Olympus")).unwrap_err();
        assert!(err.message.starts_with("CronDate: unhandled timestamp"), "{}", err.message);
        assert!(CronSchedule::parse("0 * * * *", Some("europe/berlin")).is_ok());
    }
}
