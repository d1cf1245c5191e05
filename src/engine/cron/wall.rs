//! A zoned date-time that moves the way luxon's `DateTime` moves under
//! cron-parser: wall-clock fields are set or shifted, then turned back into
//! an instant with luxon's offset guess. That guess decides where a time in
//! a DST gap lands and which of two repeated times is taken, so cron-parser's
//! results across DST changes come out only if it is followed exactly.

use super::zone::Zone;

const MS_PER_DAY: i64 = 86_400_000;

/// Wall-clock fields (month 1-12, day 1-31).
#[derive(Clone, Copy, Debug)]
pub struct Civil {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub millisecond: i64,
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// luxon's `daysInMonth`, which also takes a month past 12.
fn days_in_month(year: i64, month: i64) -> i64 {
    let m = (month - 1).rem_euclid(12) + 1;
    let y = year + (month - m) / 12;
    match m {
        2 if is_leap_year(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Milliseconds of a wall-clock reading taken as UTC (`Date.UTC`, which
/// carries a month or day past its end into the next).
fn local_ms(c: &Civil) -> i64 {
    let year = c.year + (c.month - 1).div_euclid(12);
    let month = (c.month - 1).rem_euclid(12) + 1;
    let days = days_from_civil(year, month, 1) + c.day - 1;
    days * MS_PER_DAY + c.hour * 3_600_000 + c.minute * 60_000 + c.second * 1000 + c.millisecond
}

/// The unit whose start `start_of` goes to.
#[derive(Clone, Copy)]
pub enum Start {
    Month,
    Day,
    Hour,
    Minute,
}

/// An instant in a zone with the offset luxon keeps alongside it.
#[derive(Clone)]
pub struct ZonedTime<'z> {
    zone: &'z Zone,
    ts: i64,
    /// Seconds east of UTC.
    offset: i64,
}

impl<'z> ZonedTime<'z> {
    pub fn from_millis(zone: &'z Zone, ts: i64) -> Self {
        Self { zone, ts, offset: zone.offset_secs(ts) }
    }

    pub fn millis(&self) -> i64 {
        self.ts
    }

    pub fn offset(&self) -> i64 {
        self.offset
    }

    pub fn civil(&self) -> Civil {
        let local = self.ts + self.offset * 1000;
        let (year, month, day) = civil_from_days(local.div_euclid(MS_PER_DAY));
        let in_day = local.rem_euclid(MS_PER_DAY);
        Civil {
            year,
            month,
            day,
            hour: in_day / 3_600_000,
            minute: in_day / 60_000 % 60,
            second: in_day / 1000 % 60,
            millisecond: in_day % 1000,
        }
    }

    /// 0 = Sunday.
    pub fn weekday(&self) -> i64 {
        let local = self.ts + self.offset * 1000;
        (local.div_euclid(MS_PER_DAY) + 4).rem_euclid(7)
    }

    /// luxon's `fixOffset`: the instant of a wall-clock reading, trying the
    /// current offset first. In a gap the reading moves forward by the gap.
    fn settle(&mut self, local: i64) {
        let guess = self.offset;
        let mut utc = local - guess * 1000;
        let o2 = self.zone.offset_secs(utc);
        if o2 == guess {
            self.ts = utc;
            return;
        }
        utc -= (o2 - guess) * 1000;
        let o3 = self.zone.offset_secs(utc);
        if o2 == o3 {
            (self.ts, self.offset) = (utc, o2);
            return;
        }
        (self.ts, self.offset) = (local - o2.min(o3) * 1000, o2.max(o3));
    }

    /// luxon's `set`: changes wall-clock fields and settles. cron-parser may
    /// pass a non-integer, which `Date.UTC` truncates.
    pub fn set(&mut self, change: impl FnOnce(&mut Civil)) {
        let mut c = self.civil();
        change(&mut c);
        self.settle(local_ms(&c));
    }

    pub fn set_hour(&mut self, hour: f64) {
        self.set(|c| c.hour = hour as i64);
    }

    pub fn set_minute(&mut self, minute: f64) {
        self.set(|c| c.minute = minute as i64);
    }

    pub fn set_second(&mut self, second: f64) {
        self.set(|c| c.second = second as i64);
    }

    pub fn set_millisecond(&mut self, millisecond: i64) {
        self.set(|c| c.millisecond = millisecond);
    }

    /// luxon's `startOf(unit)`.
    pub fn start_of(&mut self, unit: Start) {
        self.set(|c| {
            if let Start::Month = unit {
                c.day = 1;
            }
            if let Start::Month | Start::Day = unit {
                c.hour = 0;
            }
            if let Start::Month | Start::Day | Start::Hour = unit {
                c.minute = 0;
            }
            c.second = 0;
            c.millisecond = 0;
        });
    }

    /// luxon's `plus({ months, days })`: calendar arithmetic on the wall
    /// clock, the day kept within the new month before days are added.
    pub fn plus_calendar(&mut self, months: i64, days: i64) {
        let mut c = self.civil();
        c.month += months;
        c.day = c.day.min(days_in_month(c.year, c.month)) + days;
        self.settle(local_ms(&c));
    }

    /// luxon's `plus({ hours | minutes | seconds | milliseconds })`: an exact
    /// shift of the instant.
    pub fn plus_millis(&mut self, ms: i64) {
        let c = self.civil();
        self.settle(local_ms(&c));
        self.ts += ms;
        self.offset = self.zone.offset_secs(self.ts);
    }

    /// luxon's `endOf('day')`: the next day's start less 1 ms.
    pub fn end_of_day(&mut self) {
        self.plus_calendar(0, 1);
        self.start_of(Start::Day);
        self.plus_millis(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        for days in [-800_000, -1, 0, 59, 365 * 30, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_in_month(2023, 14), 29);
        assert_eq!(days_in_month(2024, 14), 28);
    }
}
