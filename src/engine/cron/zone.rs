//! Time zones as cron-parser sees them: it hands the `tz` option to luxon,
//! which reads `utc`/`gmt`/`local`/`system`/`default` and `UTC+h[:mm]` itself
//! and asks the JavaScript engine's ICU about every other name. Without a
//! `tz` the zone is the Node process's local zone (the `TZ` variable, else
//! the system setting).

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// A zone that can say its UTC offset at any instant.
#[derive(Clone, Debug)]
pub enum Zone {
    /// A constant offset, in seconds east of UTC.
    Fixed(i64),
    Named(TimeZone),
}

impl Zone {
    /// Seconds east of UTC at the instant `ts_ms`.
    pub fn offset_secs(&self, ts_ms: i64) -> i64 {
        match self {
            Zone::Fixed(secs) => *secs,
            Zone::Named(tz) => {
                // Past jiff's years -9999..=9999 the edge offset is kept; JS
                // dates reach further, but no schedule of ours does.
                let at = Timestamp::from_millisecond(ts_ms).unwrap_or(if ts_ms < 0 {
                    Timestamp::MIN
                } else {
                    Timestamp::MAX
                });
                i64::from(tz.to_offset(at).seconds())
            }
        }
    }
}

/// ICU's old three-letter ids, which Node accepts as `timeZone` but the tz
/// database does not list.
const ICU_LEGACY_IDS: &[(&str, &str)] = &[
    ("ACT", "Australia/Darwin"),
    ("AET", "Australia/Sydney"),
    ("AGT", "America/Argentina/Buenos_Aires"),
    ("ART", "Africa/Cairo"),
    ("AST", "America/Anchorage"),
    ("BET", "America/Sao_Paulo"),
    ("BST", "Asia/Dhaka"),
    ("CAT", "Africa/Harare"),
    ("CNT", "America/St_Johns"),
    ("CST", "America/Chicago"),
    ("CTT", "Asia/Shanghai"),
    ("EAT", "Africa/Addis_Ababa"),
    ("ECT", "Europe/Paris"),
    ("IET", "America/Indiana/Indianapolis"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("MIT", "Pacific/Apia"),
    ("NET", "Asia/Yerevan"),
    ("NST", "Pacific/Auckland"),
    ("PLT", "Asia/Karachi"),
    ("PNT", "America/Phoenix"),
    ("PRT", "America/Puerto_Rico"),
    ("PST", "America/Los_Angeles"),
    ("SST", "Pacific/Guadalcanal"),
    ("VST", "Asia/Ho_Chi_Minh"),
];

/// The zone for cron-parser's `tz` option; `None` when luxon would call the
/// zone invalid (cron-parser then fails to build its start date).
pub fn resolve(tz: Option<&str>) -> Option<Zone> {
    let Some(name) = tz else { return Some(system_zone()) };
    let lowered = name.to_lowercase();
    match lowered.as_str() {
        "default" | "local" | "system" => return Some(system_zone()),
        "utc" | "gmt" => return Some(Zone::Fixed(0)),
        _ => {}
    }
    if let Some(minutes) = utc_specifier(&lowered) {
        return Some(Zone::Fixed(minutes * 60));
    }
    named_zone(name)
}

/// `utc`, `utc+6`, `utc-05:30` (already lower case), in minutes east of UTC.
fn utc_specifier(lowered: &str) -> Option<i64> {
    let rest = lowered.strip_prefix("utc")?;
    if rest.is_empty() {
        return Some(0);
    }
    let sign = match rest.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = match rest[1..].split_once(':') {
        Some((h, m)) => (h, Some(m)),
        None => (&rest[1..], None),
    };
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(hours, 1..=2) || minutes.is_some_and(|m| !digits(m, 2..=2)) {
        return None;
    }
    let h: i64 = hours.parse().ok()?;
    let m: i64 = minutes.map_or(Ok(0), str::parse).ok()?;
    Some(sign * (h * 60 + m))
}

/// A tz database name, or one of ICU's legacy ids, matched without regard to
/// case as `Intl` does.
fn named_zone(name: &str) -> Option<Zone> {
    let canonical = ICU_LEGACY_IDS
        .iter()
        .find(|(id, _)| id.eq_ignore_ascii_case(name))
        .map_or(name, |(_, target)| target);
    jiff::tz::db().get(canonical).ok().map(Zone::Named)
}

/// A tz database name spelled exactly, as Node reads the `TZ` variable.
fn env_zone(name: &str) -> Option<Zone> {
    let tz = jiff::tz::db().get(name).ok()?;
    (tz.iana_name() == Some(name)).then_some(Zone::Named(tz))
}

/// The Node process's local zone: `TZ` (a name, `:name` or a path into a
/// zoneinfo folder; anything else is UTC, as Node treats it), else the zone
/// `/etc/localtime` names or holds. Read at every call, because Node follows
/// a change of `process.env.TZ` at run time.
fn system_zone() -> Zone {
    let utc = Zone::Fixed(0);
    match std::env::var("TZ") {
        Ok(value) => {
            let name = value.strip_prefix(':').unwrap_or(&value);
            let name = match name.starts_with('/') {
                true => zoneinfo_name(name),
                false => Some(name),
            };
            name.and_then(env_zone).unwrap_or(utc)
        }
        Err(_) => {
            let link = std::fs::read_link("/etc/localtime").ok();
            let from_link = link
                .as_ref()
                .and_then(|path| path.to_str())
                .and_then(zoneinfo_name)
                .and_then(env_zone);
            from_link
                .or_else(|| {
                    let data = std::fs::read("/etc/localtime").ok()?;
                    TimeZone::tzif("Local", &data).ok().map(Zone::Named)
                })
                .unwrap_or(utc)
        }
    }
}

/// `Europe/Berlin` from `/usr/share/zoneinfo/Europe/Berlin`.
fn zoneinfo_name(path: &str) -> Option<&str> {
    path.find("zoneinfo/").map(|at| &path[at + "zoneinfo/".len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_specifiers_follow_luxon() {
        assert_eq!(utc_specifier("utc"), Some(0));
        assert_eq!(utc_specifier("utc+5"), Some(300));
        assert_eq!(utc_specifier("utc-3:30"), Some(-210));
        assert_eq!(utc_specifier("utc+05:30"), Some(330));
        assert_eq!(utc_specifier("utc+123"), None);
        assert_eq!(utc_specifier("utc+5:3"), None);
        assert_eq!(utc_specifier("utc5"), None);
    }

    #[test]
    fn names_resolve_like_intl() {
        assert!(resolve(Some("america/new_york")).is_some());
        assert!(resolve(Some("PST")).is_some());
        assert!(resolve(Some("US/Eastern")).is_some());
        assert!(resolve(Some("Foo/Bar")).is_none());
        assert!(resolve(Some("")).is_none());
        assert!(resolve(Some("+05:30")).is_none());
        let berlin = resolve(Some("Europe/Berlin")).unwrap();
        // 2025-07-01T00:00Z is summer time in Berlin.
        assert_eq!(berlin.offset_secs(1_751_328_000_000), 7200);
    }
}
