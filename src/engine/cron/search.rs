//! The forward search of cron-parser 5's `CronExpression.next()`, step for
//! step: it walks the wall clock (month, day, hour, minute, second), notes
//! DST gaps and repeated hours as it crosses them, and gives up after the
//! same number of steps. Its DST behaviour (a run in a skipped hour moves to
//! the hour after the gap; a repeated hour runs once) comes from this walk.

use super::pattern::{Fields, Value, DAYS_IN_MONTH};
use super::wall::{is_leap_year, Start, ZonedTime};
use super::zone::Zone;

/// cron-parser's bound on search steps; past it `next()` throws, which
/// BullMQ takes as "no next run".
const LOOP_LIMIT: u32 = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// cron-parser's `CronDate`: the time plus what it saw of DST while moving.
struct Cursor<'z> {
    time: ZonedTime<'z>,
    /// First skipped hour of the last spring-forward gap crossed.
    dst_start: Option<i64>,
    /// The hour the clock landed on after that gap.
    dst_landing: Option<i64>,
    /// An hour that was just entered a second time (autumn).
    dst_end: Option<i64>,
}

impl<'z> Cursor<'z> {
    fn hour(&self) -> i64 {
        self.time.civil().hour
    }

    fn add(&mut self, unit: Unit) {
        match unit {
            Unit::Month => {
                self.time.plus_calendar(1, 0);
                self.time.start_of(Start::Month);
            }
            Unit::Day => {
                self.time.plus_calendar(0, 1);
                self.time.start_of(Start::Day);
            }
            Unit::Hour => {
                self.time.plus_millis(3_600_000);
                self.time.start_of(Start::Hour);
            }
            Unit::Minute => {
                self.time.plus_millis(60_000);
                self.time.start_of(Start::Minute);
            }
            Unit::Second => self.time.plus_millis(1000),
        }
    }

    /// cron-parser's `applyDateOperation` (forward): moves by one unit and,
    /// below a day, records a DST gap or repeated hour it stepped over. A
    /// pattern that runs every hour needs neither, so nothing is recorded.
    fn step(&mut self, unit: Unit, hours_in_pattern: usize) {
        if matches!(unit, Unit::Month | Unit::Day) {
            self.add(unit);
            return;
        }
        let previous_hour = self.hour();
        let previous_offset = self.time.offset();
        self.add(unit);
        let now = self.time.civil();
        let advance = (now.hour - previous_hour + 24) % 24;
        if self.time.offset() > previous_offset && advance >= 2 {
            if hours_in_pattern != 24 {
                self.dst_start = Some((previous_hour + 1) % 24);
                self.dst_landing = Some(now.hour);
            }
        } else if advance == 0 && now.minute == 0 && now.second == 0 && hours_in_pattern != 24 {
            self.dst_end = Some(now.hour);
        }
    }

    /// Whether the offset at the start of the day differs from its end.
    fn is_dst_change_day(&self) -> bool {
        let mut start = self.time.clone();
        start.start_of(Start::Day);
        let mut end = self.time.clone();
        end.end_of_day();
        start.offset() != end.offset()
    }
}

fn last_day_of_month(year: i64, month: i64) -> i64 {
    let days = i64::from(DAYS_IN_MONTH[(month - 1) as usize]);
    if month == 2 && !is_leap_year(year) {
        days - 1
    } else {
        days
    }
}

/// cron-parser's day rule: with both day fields restricted either may match;
/// otherwise the restricted one decides.
fn day_matches(fields: &Fields, time: &ZonedTime) -> bool {
    let c = time.civil();
    let weekday = time.weekday();
    let last_day = last_day_of_month(c.year, c.month);
    let dom = &fields.day_of_month;
    let dow = &fields.day_of_week;
    let dom_match = dom.contains(c.day) || (dom.has_last && c.day == last_day);
    let in_last_week = c.day > last_day - 7;
    let dow_match = (dow.contains(weekday) && is_nth_weekday(fields.nth_day, c.day))
        || (dow.has_last && in_last_week && dow.values.iter().any(|v| last_weekday_of(v) == Some(weekday)));
    (!dom.wildcard && !dow.wildcard && (dom_match || dow_match))
        || (dom_match && dow.wildcard)
        || (dom.wildcard && !dow.wildcard && dow_match)
}

/// `#k`: the k-th such weekday of the month (k 0: any).
fn is_nth_weekday(nth: f64, day: i64) -> bool {
    nth <= 0.0 || (day as f64 / 7.0).ceil() == nth
}

/// The weekday an `nL` value names: its first digit, 7 being Sunday.
fn last_weekday_of(value: &Value) -> Option<i64> {
    let text = match value {
        Value::Num(n) => super::js::number_to_string(*n),
        Value::Text(s) => s.clone(),
    };
    text.chars().next()?.to_digit(10).map(|d| i64::from(d) % 7)
}

/// cron-parser's hour check; moves the cursor when the hour does not match.
fn hour_matches(fields: &Fields, cursor: &mut Cursor) -> bool {
    let hours = &fields.hour;
    let hours_len = hours.values.len();
    let current = cursor.hour();
    // Right after a gap, a pattern hour inside the gap runs at the landing hour.
    if let (Some(first_skipped), Some(landing)) = (cursor.dst_start, cursor.dst_landing) {
        if landing == current {
            let mut skipped = first_skipped;
            while skipped != current {
                if hours.contains(skipped) {
                    return true;
                }
                skipped = (skipped + 1) % 24;
            }
        }
    }
    // A repeated hour is not run twice.
    if cursor.dst_end == Some(current) {
        cursor.dst_end = None;
        cursor.step(Unit::Hour, hours_len);
        return false;
    }
    if hours.contains(current) {
        return true;
    }
    cursor.dst_start = None;
    cursor.dst_landing = None;
    let Some(next_hour) = hours.next_above(current) else {
        cursor.step(Unit::Day, hours_len);
        return false;
    };
    if cursor.is_dst_change_day() {
        // Hour by hour, so that a gap or repeated hour is noticed.
        let steps = (next_hour - current as f64).ceil() as i64;
        for _ in 0..steps {
            cursor.step(Unit::Hour, hours_len);
            if cursor.hour() as f64 >= next_hour {
                break;
            }
        }
    } else {
        cursor.time.set_hour(next_hour);
    }
    cursor.time.set_minute(fields.minute.first());
    cursor.time.set_second(fields.second.first());
    false
}

/// The first run strictly after `current_ms` (never after `end_ms`), as
/// `CronExpressionParser.parse(p, { currentDate, endDate, tz }).next()`.
pub fn next_after(fields: &Fields, zone: &Zone, current_ms: i64, end_ms: Option<i64>) -> Option<i64> {
    let start_ms = match end_ms {
        Some(end) if current_ms > end => end,
        _ => current_ms,
    };
    let hours_len = fields.hour.values.len();
    let mut cursor = Cursor {
        time: ZonedTime::from_millis(zone, start_ms),
        dst_start: None,
        dst_landing: None,
        dst_end: None,
    };
    if cursor.time.civil().millisecond > 0 {
        cursor.time.set_millisecond(0);
        cursor.step(Unit::Second, hours_len);
    }
    for _ in 1..LOOP_LIMIT {
        if end_ms.is_some_and(|end| cursor.time.millis() > end) {
            return None;
        }
        let c = cursor.time.civil();
        if !fields.month.contains(c.month) {
            cursor.step(Unit::Month, hours_len);
            continue;
        }
        if !day_matches(fields, &cursor.time) {
            cursor.step(Unit::Day, hours_len);
            continue;
        }
        if !hour_matches(fields, &mut cursor) {
            continue;
        }
        let c = cursor.time.civil();
        if !fields.minute.contains(c.minute) {
            match fields.minute.next_above(c.minute) {
                Some(minute) => cursor.time.set_minute(minute),
                None => {
                    cursor.step(Unit::Hour, hours_len);
                    cursor.time.set_minute(fields.minute.first());
                }
            }
            cursor.time.set_second(fields.second.first());
            continue;
        }
        if !fields.second.contains(c.second) {
            match fields.second.next_above(c.second) {
                Some(second) => cursor.time.set_second(second),
                None => {
                    cursor.step(Unit::Minute, hours_len);
                    cursor.time.set_second(fields.second.first());
                }
            }
            continue;
        }
        if cursor.time.millis() == start_ms {
            cursor.step(Unit::Second, hours_len);
            continue;
        }
        return Some(cursor.time.millis());
    }
    None
}
