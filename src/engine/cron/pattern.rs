//! Reading a cron pattern into the allowed values of its six fields, with
//! cron-parser 5's rules and error messages: optional seconds, `*` and `?`,
//! lists, ranges, steps, month and weekday names, `L` (day of month, and
//! `nL` for the last weekday n of the month), `n#k` (k-th weekday n), the
//! `H` hashed forms, and the `@` macros. `W` is refused, as cron-parser does.

use super::js::{is_space, number_to_string, parse_int, to_number, utf16_len};

/// One allowed value. Numbers are kept as JavaScript numbers (cron-parser
/// lets a few non-integers through); text is what carries `L`.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Num(f64),
    Text(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Num(n) => number_to_string(*n),
            Value::Text(s) => s.clone(),
        }
    }
}

/// The allowed values of one field, sorted as cron-parser sorts them.
#[derive(Clone, Debug)]
pub struct Field {
    pub values: Vec<Value>,
    /// Written as `*` or `?` (not merely covering every value).
    pub wildcard: bool,
    pub has_last: bool,
}

impl Field {
    pub fn contains(&self, n: i64) -> bool {
        self.values.iter().any(|v| matches!(v, Value::Num(x) if *x == n as f64))
    }

    /// The smallest allowed number above `n`.
    pub fn next_above(&self, n: i64) -> Option<f64> {
        self.values.iter().find_map(|v| match v {
            Value::Num(x) if *x > n as f64 => Some(*x),
            _ => None,
        })
    }

    /// The first value; for second, minute and hour always a number.
    pub fn first(&self) -> f64 {
        match self.values.first() {
            Some(Value::Num(x)) => *x,
            _ => f64::NAN,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Fields {
    pub second: Field,
    pub minute: Field,
    pub hour: Field,
    pub day_of_month: Field,
    pub month: Field,
    pub day_of_week: Field,
    /// `k` of `n#k`, 0 without `#`.
    pub nth_day: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Second,
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Unit {
    fn min(self) -> f64 {
        match self {
            Unit::DayOfMonth | Unit::Month => 1.0,
            _ => 0.0,
        }
    }

    fn max(self) -> f64 {
        match self {
            Unit::Second | Unit::Minute => 59.0,
            Unit::Hour => 23.0,
            Unit::DayOfMonth => 31.0,
            Unit::Month => 12.0,
            Unit::DayOfWeek => 7.0,
        }
    }

    fn allows_last(self) -> bool {
        matches!(self, Unit::DayOfMonth | Unit::DayOfWeek)
    }

    /// cron-parser's name of the unit, as its "too many values" error says it.
    fn unit_name(self) -> &'static str {
        match self {
            Unit::Second => "Second",
            Unit::Minute => "Minute",
            Unit::Hour => "Hour",
            Unit::DayOfMonth => "DayOfMonth",
            Unit::Month => "Month",
            Unit::DayOfWeek => "DayOfWeek",
        }
    }

    /// The field's name, as the hashed-range errors say it.
    fn field_name(self) -> &'static str {
        match self {
            Unit::Second => "second",
            Unit::Minute => "minute",
            Unit::Hour => "hour",
            Unit::DayOfMonth => "dayOfMonth",
            Unit::Month => "month",
            Unit::DayOfWeek => "dayOfWeek",
        }
    }

    /// The field class's name, as the validation errors say it.
    fn class_name(self) -> &'static str {
        match self {
            Unit::Second => "CronSecond",
            Unit::Minute => "CronMinute",
            Unit::Hour => "CronHour",
            Unit::DayOfMonth => "CronDayOfMonth",
            Unit::Month => "CronMonth",
            Unit::DayOfWeek => "CronDayOfWeek",
        }
    }
}

const MAX_FIELD_VALUES: f64 = 256.0;
const MAX_EXPRESSION_LENGTH: usize = 1024;
/// February counts 29: a pattern may name the 29th of a single month 2.
pub const DAYS_IN_MONTH: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

fn predefined(expression: &str) -> Option<&'static str> {
    Some(match expression {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * 0",
        "@daily" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        "@minutely" => "0 * * * * *",
        "@secondly" => "* * * * * *",
        "@weekdays" => "0 0 0 * * 1-5",
        "@weekends" => "0 0 0 * * 0,6",
        _ => return None,
    })
}

fn alias(name: &str) -> Option<u32> {
    const NAMES: [&str; 19] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "sun",
        "mon", "tue", "wed", "thu", "fri", "sat",
    ];
    let at = NAMES.iter().position(|n| *n == name)?;
    Some(if at < 12 { at as u32 + 1 } else { at as u32 - 12 })
}

/// cron-parser's seeded generator (FNV-1a of the seed into mulberry32); one
/// draw per field, hashed or not, in the parser's field order.
struct Draws {
    state: u64,
}

impl Draws {
    fn new(seed: Option<&str>) -> Self {
        let state = match seed {
            Some(s) if !s.is_empty() => {
                let mut h: u32 = 2_166_136_261;
                for unit in s.encode_utf16() {
                    h ^= u32::from(unit);
                    h = h.wrapping_mul(16_777_619);
                }
                u64::from(h)
            }
            // Without a seed cron-parser draws one, so `H` differs per parse.
            _ => rand::random::<u64>() % 10_000_000_000,
        };
        Self { state }
    }

    fn next(&mut self) -> f64 {
        self.state += 0x6d2b_79f5;
        let t = self.state as u32;
        let t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        let t = t ^ t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        f64::from(t ^ (t >> 14)) / 4_294_967_296.0
    }
}

/// Parses `expression` as `CronExpressionParser.parse` does with the options
/// `strict` and `hashSeed`; the error is cron-parser's message.
pub fn parse(expression: &str, strict: bool, hash_seed: Option<&str>) -> Result<Fields, String> {
    let mut draws = Draws::new(hash_seed);
    let expression = predefined(expression).unwrap_or(expression);
    let raw = raw_fields(expression, strict)?;
    if strict && raw[3] != "*" && raw[5] != "*" {
        return Err("Cannot use both dayOfMonth and dayOfWeek together in strict mode!".into());
    }
    let second = parse_field(Unit::Second, &raw[0], &mut draws, strict)?;
    let minute = parse_field(Unit::Minute, &raw[1], &mut draws, strict)?;
    let hour = parse_field(Unit::Hour, &raw[2], &mut draws, strict)?;
    let month = parse_field(Unit::Month, &raw[4], &mut draws, strict)?;
    let day_of_month = parse_field(Unit::DayOfMonth, &raw[3], &mut draws, strict)?;
    let (weekdays, nth_day) = split_nth_day(&raw[5])?;
    let day_of_week = parse_field(Unit::DayOfWeek, weekdays, &mut draws, strict)?;

    let second = field(Unit::Second, second, &raw[0])?;
    let minute = field(Unit::Minute, minute, &raw[1])?;
    let hour = field(Unit::Hour, hour, &raw[2])?;
    let day_of_month = field(Unit::DayOfMonth, within_month(&month, day_of_month), &raw[3])?;
    let month = field(Unit::Month, month, &raw[4])?;
    let day_of_week = field(Unit::DayOfWeek, day_of_week, &raw[5])?;
    if day_of_week.values.iter().any(|v| *v == Value::Text("L".into())) {
        return Err("CronDayOfWeek Validation error, unexpected standalone L".into());
    }
    // A single month with one day it never has, and no weekday to fall back on.
    if month.values.len() == 1 && !day_of_month.has_last && day_of_week.wildcard {
        let first_day = day_of_month.values.first().map_or(f64::NAN, |v| parse_int(&v.text()));
        let limit = days_in(&month.values[0]).map_or(f64::NAN, f64::from);
        // Also when either is NaN, as the comparison in JavaScript.
        if first_day.partial_cmp(&limit).is_none_or(|o| o.is_gt()) {
            return Err("Invalid explicit day of month definition".into());
        }
    }
    Ok(Fields {
        second,
        minute,
        hour,
        day_of_month,
        month,
        day_of_week,
        nth_day: nth_day.unwrap_or(0.0),
    })
}

/// The six raw fields; a shorter pattern is padded from the left with
/// `0 * * * *` (seconds 0), and an empty one means every minute.
fn raw_fields(expression: &str, strict: bool) -> Result<Vec<String>, String> {
    if strict && expression.is_empty() {
        return Err("Invalid cron expression".into());
    }
    let expression = if expression.is_empty() { "0 * * * * *" } else { expression };
    if utf16_len(expression) > MAX_EXPRESSION_LENGTH {
        return Err(format!(
            "Invalid cron expression, too long, expected at most {MAX_EXPRESSION_LENGTH} characters"
        ));
    }
    let trimmed = expression.trim_matches(is_space);
    let mut atoms: Vec<String> = if trimmed.is_empty() {
        vec![String::new()]
    } else {
        trimmed.split(is_space).filter(|a| !a.is_empty()).map(String::from).collect()
    };
    if strict && atoms.len() < 6 {
        return Err("Invalid cron expression, expected 6 fields".into());
    }
    if atoms.len() > 6 {
        return Err("Invalid cron expression, too many fields".into());
    }
    let defaults = ["0", "*", "*", "*", "*", "*"];
    let missing = 6 - atoms.len();
    atoms.splice(0..0, defaults[..missing].iter().map(|d| d.to_string()));
    Ok(atoms)
}

fn parse_field(unit: Unit, raw: &str, draws: &mut Draws, strict: bool) -> Result<Vec<Value>, String> {
    let mut value = raw.to_string();
    if matches!(unit, Unit::Month | Unit::DayOfWeek) {
        value = replace_names(&value)?;
    }
    if !valid_chars(unit, &value) {
        return Err(format!("Invalid characters, got value: {value}"));
    }
    let full = format!("{}-{}", unit.min(), unit.max());
    let value = value.replace(['*', '?'], &full);
    let value = expand_hashed(unit, &value, draws.next(), strict)?;
    parse_list(unit, &value)
}

/// Month and weekday names (any case, either kind in either field) become
/// numbers; any other run of three letters is an error.
fn replace_names(value: &str) -> Result<String, String> {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    let mut i = 0;
    while i < chars.len() {
        if i + 3 <= chars.len() && chars[i..i + 3].iter().all(char::is_ascii_alphabetic) {
            let name: String = chars[i..i + 3].iter().collect::<String>().to_ascii_lowercase();
            let number = alias(&name)
                .ok_or_else(|| format!("Validation error, cannot resolve alias \"{name}\""))?;
            out.push_str(&number.to_string());
            i += 3;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// cron-parser's character check: only the field's characters, or anything
/// at all around a well-formed `H(a-b)` or `H/n`.
fn valid_chars(unit: Unit, value: &str) -> bool {
    let extra = match unit {
        Unit::DayOfMonth => "L",
        Unit::DayOfWeek => "L#",
        _ => "",
    };
    let plain = !value.is_empty()
        && value.chars().all(|c| "?,*H/-".contains(c) || c.is_ascii_digit() || extra.contains(c));
    let chars: Vec<char> = value.chars().collect();
    plain
        || (0..chars.len()).any(|i| {
            chars[i] == 'H' && (hashed_range_at(&chars, i + 1).is_some() || hashed_step_at(&chars, i + 1).is_some())
        })
}

fn digits_at(chars: &[char], from: usize) -> Option<(String, usize)> {
    let n = chars.get(from..)?.iter().take_while(|c| c.is_ascii_digit()).count();
    (n > 0).then(|| (chars[from..from + n].iter().collect(), from + n))
}

/// `(a-b)` at `from`: the two numbers and the index after `)`.
fn hashed_range_at(chars: &[char], from: usize) -> Option<(String, String, usize)> {
    if chars.get(from) != Some(&'(') {
        return None;
    }
    let (a, at) = digits_at(chars, from + 1)?;
    if chars.get(at) != Some(&'-') {
        return None;
    }
    let (b, at) = digits_at(chars, at + 1)?;
    if chars.get(at) != Some(&')') {
        return None;
    }
    Some((a, b, at + 1))
}

/// `/n` at `from`: the step and the index after it.
fn hashed_step_at(chars: &[char], from: usize) -> Option<(String, usize)> {
    if chars.get(from) != Some(&'/') {
        return None;
    }
    digits_at(chars, from + 1)
}

/// Replaces each `H`, `H(a-b)`, `H/n` and `H(a-b)/n` with values picked from
/// the field's draw `random`.
fn expand_hashed(unit: Unit, value: &str, random: f64, strict: bool) -> Result<String, String> {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    let mut count = 0.0;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != 'H' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i + 1;
        let range = hashed_range_at(&chars, end);
        if let Some((_, _, after)) = &range {
            end = *after;
        }
        let step = hashed_step_at(&chars, end);
        if let Some((_, after)) = &step {
            end = *after;
        }
        let step = match step {
            Some((text, _)) => {
                let n = parse_int(&text);
                if n <= 0.0 {
                    return Err(format!("Invalid step: {}, must be positive", number_to_string(n)));
                }
                Some(n)
            }
            None => None,
        };
        let (min, max) = match &range {
            Some((a, b, _)) => hashed_bounds(unit, parse_int(a), parse_int(b), strict)?,
            None => (unit.min(), unit.max()),
        };
        let replacement = match step {
            Some(step) => {
                count += ((max - min + 1.0) / step).ceil();
                check_value_count(unit, count)?;
                hashed_step(unit, random, min, max, step, strict)?
            }
            None => number_to_string(hashed_value(random, min, max)),
        };
        out.push_str(&replacement);
        i = end;
    }
    Ok(out)
}

fn hashed_bounds(unit: Unit, min: f64, max: f64, strict: bool) -> Result<(f64, f64), String> {
    let (lo, hi) = (number_to_string(min), number_to_string(max));
    if min > max {
        return Err(format!("Invalid range: {lo}-{hi}, min > max"));
    }
    if strict && (min < unit.min() || max > unit.max()) {
        return Err(format!(
            "Invalid range: {lo}-{hi}, outside the {}-{} range of the {} field",
            unit.min(),
            unit.max(),
            unit.field_name()
        ));
    }
    let (from, to) = (min.max(unit.min()), max.min(unit.max()));
    if from > to {
        return Err(format!("Invalid range: {lo}-{hi}, no usable value in the {} field", unit.field_name()));
    }
    Ok((from, to))
}

fn hashed_value(random: f64, min: f64, max: f64) -> f64 {
    (random * (max - min + 1.0)).floor() + min
}

/// Every `step`-th value of `min..=max`, shifted by the draw; a step wider
/// than the range falls back to one hashed value.
fn hashed_step(unit: Unit, random: f64, min: f64, max: f64, step: f64, strict: bool) -> Result<String, String> {
    if strict && step > max - min + 1.0 {
        return Err(format!(
            "Invalid step: {}, wider than the {}-{} range of the {} field",
            number_to_string(step),
            number_to_string(min),
            number_to_string(max),
            unit.field_name()
        ));
    }
    let offset = (random * step).floor();
    let mut values = Vec::new();
    let mut i = (min / step).floor() * step + offset;
    while i <= max {
        if i >= min {
            values.push(number_to_string(i));
        }
        i += step;
    }
    if values.is_empty() {
        return Ok(number_to_string(hashed_value(random, min, max)));
    }
    Ok(values.join(","))
}

fn check_value_count(unit: Unit, count: f64) -> Result<(), String> {
    if count > MAX_FIELD_VALUES {
        return Err(format!(
            "Constraint error, too many values in {} field, expected at most {MAX_FIELD_VALUES}",
            unit.unit_name()
        ));
    }
    Ok(())
}

/// A comma list of values, ranges and steps.
fn parse_list(unit: Unit, value: &str) -> Result<Vec<Value>, String> {
    let mut values: Vec<Value> = Vec::new();
    for atom in value.split(',') {
        check_value_count(unit, values.len() as f64)?;
        if atom.is_empty() {
            return Err("Invalid list value format".into());
        }
        match parse_step(unit, atom)? {
            Parsed::Range(numbers) => values.extend(numbers.into_iter().map(Value::Num)),
            Parsed::Single(single) => {
                let text = single.text();
                if unit.allows_last() && text.contains('L') {
                    values.push(single);
                    continue;
                }
                let n = parse_int(&text);
                if !(n >= unit.min() && n <= unit.max()) {
                    return Err(format!(
                        "Constraint error, got value {text} expected range {}-{}",
                        unit.min(),
                        unit.max()
                    ));
                }
                // Weekday 7 is Sunday.
                values.push(if unit == Unit::DayOfWeek { Value::Num(n % 7.0) } else { single });
            }
        }
    }
    Ok(values)
}

enum Parsed {
    Range(Vec<f64>),
    Single(Value),
}

/// `a-b/n`, `a/n` (meaning `a-max/n`) or a range or single value.
fn parse_step(unit: Unit, atom: &str) -> Result<Parsed, String> {
    let parts: Vec<&str> = atom.split('/').collect();
    match parts.as_slice() {
        [range, step] => {
            let range = match range.contains('-') {
                true => range.to_string(),
                false => format!("{range}-{}", unit.max()),
            };
            parse_range(unit, &range, parse_int(step))
        }
        [_] => parse_range(unit, atom, 1.0),
        _ => Err(format!("Invalid repeat: {atom}")),
    }
}

fn parse_range(unit: Unit, text: &str, step: f64) -> Result<Parsed, String> {
    let parts: Vec<&str> = text.split('-').collect();
    if parts.len() <= 1 {
        let n = to_number(text);
        return Ok(Parsed::Single(if n.is_nan() { Value::Text(text.into()) } else { Value::Num(n) }));
    }
    // Like cron-parser, only the first two parts of `a-b-c` count.
    let (min, max) = (parse_int(parts[0]), parse_int(parts[1]));
    let (lo, hi) = (number_to_string(min), number_to_string(max));
    if !(min >= unit.min() && max <= unit.max()) {
        return Err(format!(
            "Constraint error, got range {lo}-{hi} expected range {}-{}",
            unit.min(),
            unit.max()
        ));
    }
    if min > max {
        return Err(format!("Invalid range: {lo}-{hi}, min({lo}) > max({hi})"));
    }
    if step.partial_cmp(&0.0).is_none_or(|o| o.is_le()) {
        return Err(format!("Constraint error, cannot repeat at every {} time.", number_to_string(step)));
    }
    let mut numbers = Vec::new();
    // A weekday range reaching 7 on its step also yields Sunday as 0.
    if unit == Unit::DayOfWeek && max % 7.0 == 0.0 && (max - min) % step == 0.0 {
        numbers.push(0.0);
    }
    let mut i = min;
    while i <= max {
        if !numbers.contains(&i) {
            numbers.push(i);
        }
        i += step;
    }
    Ok(Parsed::Range(numbers))
}

/// `n#k`: the weekday part and `k`.
fn split_nth_day(raw: &str) -> Result<(&str, Option<f64>), String> {
    let parts: Vec<&str> = raw.split('#').collect();
    if parts.len() <= 1 {
        return Ok((raw, None));
    }
    let nth = to_number(parts[parts.len() - 1]);
    if let Some(c) = raw.chars().find(|c| matches!(c, ',' | '-' | '/')) {
        return Err(format!(
            "Constraint error, invalid dayOfWeek `#` and `{c}` special characters are incompatible"
        ));
    }
    if !(parts.len() <= 2 && (1.0..=5.0).contains(&nth)) {
        return Err("Constraint error, invalid dayOfWeek occurrence number (#)".into());
    }
    Ok((parts[0], Some(nth)))
}

/// With a single month, days past its length are dropped (unless that drops all).
fn within_month(month: &[Value], days: Vec<Value>) -> Vec<Value> {
    if month.len() != 1 {
        return days;
    }
    let limit = days_in(&month[0]);
    let kept: Vec<Value> = days
        .iter()
        .filter(|d| match d {
            Value::Num(n) => limit.is_some_and(|l| *n <= f64::from(l)),
            Value::Text(_) => true,
        })
        .cloned()
        .collect();
    if kept.is_empty() {
        days
    } else {
        kept
    }
}

fn days_in(month: &Value) -> Option<u32> {
    match month {
        Value::Num(m) if m.fract() == 0.0 && (1.0..=12.0).contains(m) => Some(DAYS_IN_MONTH[*m as usize - 1]),
        _ => None,
    }
}

/// A field's values checked and sorted as cron-parser's field classes do.
fn field(unit: Unit, mut values: Vec<Value>, raw: &str) -> Result<Field, String> {
    let class = unit.class_name();
    if values.is_empty() {
        return Err(format!("{class} Validation error, values contains no values"));
    }
    values.sort_by(compare_values);
    let has_last = raw.contains('L') || values.contains(&Value::Text("L".into()));
    let in_range = |v: &Value| match v {
        Value::Num(n) => *n >= unit.min() && *n <= unit.max(),
        Value::Text(s) => unit.allows_last() && is_day_with_last(s),
    };
    if let Some(bad) = values.iter().find(|v| !in_range(v)) {
        let chars = if unit.allows_last() { " or chars L" } else { "" };
        return Err(format!(
            "{class} Validation error, got value {} expected range {}-{}{chars}",
            bad.text(),
            unit.min(),
            unit.max()
        ));
    }
    let duplicate = values.iter().enumerate().find(|(at, v)| values.iter().position(|w| w == *v) != Some(*at));
    if let Some((_, dup)) = duplicate {
        return Err(format!("{class} Validation error, duplicate values found: {}", dup.text()));
    }
    Ok(Field { values, wildcard: raw == "*" || raw == "?", has_last })
}

/// `L` with up to two digits before it.
fn is_day_with_last(s: &str) -> bool {
    s.strip_suffix('L')
        .is_some_and(|digits| digits.len() <= 2 && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Numbers ascending, then texts. cron-parser orders texts with
/// `localeCompare`; only error messages can tell the difference.
fn compare_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Value::Num(_), Value::Text(_)) => Ordering::Less,
        (Value::Text(_), Value::Num(_)) => Ordering::Greater,
        (Value::Text(x), Value::Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()).then_with(|| y.cmp(x)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(field: &Field) -> Vec<f64> {
        field.values.iter().filter_map(|v| if let Value::Num(n) = v { Some(*n) } else { None }).collect()
    }

    #[test]
    fn five_fields_get_second_zero_and_names_become_numbers() {
        let f = parse("*/15 9-17 * JAN,mar mon-FRI", false, None).unwrap();
        assert_eq!(numbers(&f.second), vec![0.0]);
        assert_eq!(numbers(&f.minute), vec![0.0, 15.0, 30.0, 45.0]);
        assert_eq!(numbers(&f.month), vec![1.0, 3.0]);
        assert_eq!(numbers(&f.day_of_week), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(f.day_of_month.wildcard && !f.day_of_week.wildcard);
    }

    #[test]
    fn errors_carry_cron_parser_messages() {
        let err = |p: &str| parse(p, false, None).unwrap_err();
        assert_eq!(err("61 * * * *"), "Constraint error, got value 61 expected range 0-59");
        assert_eq!(err("* * * * * * *"), "Invalid cron expression, too many fields");
        assert_eq!(err("* * * * foo"), "Validation error, cannot resolve alias \"foo\"");
        assert_eq!(err("* * 0 2 *"), "Constraint error, got value 0 expected range 1-31");
        assert_eq!(err("* * 30 2 *"), "Invalid explicit day of month definition");
        assert_eq!(err("* * * * L"), "CronDayOfWeek Validation error, unexpected standalone L");
        assert_eq!(err("* * * * 1#6"), "Constraint error, invalid dayOfWeek occurrence number (#)");
        assert_eq!(err("5-1 * * * *"), "Invalid range: 5-1, min(5) > max(1)");
        assert_eq!(err("*/0 * * * *"), "Constraint error, cannot repeat at every 0 time.");
        assert_eq!(err("* * LW * *"), "Invalid characters, got value: LW");
    }

    #[test]
    fn hashed_values_follow_the_seed() {
        let a = parse("H H * * *", false, Some("job-1")).unwrap();
        let b = parse("H H * * *", false, Some("job-1")).unwrap();
        assert_eq!(numbers(&a.minute), numbers(&b.minute));
        assert_eq!(numbers(&a.hour), numbers(&b.hour));
        assert_eq!(numbers(&a.minute).len(), 1);
    }
}
