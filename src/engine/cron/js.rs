//! The few JavaScript conversions cron-parser's parsing leans on (`parseInt`,
//! unary `+`, number printing, `\s`), so that odd input is read, and
//! reported, the way cron-parser reads and reports it.

/// `\s` and `String.prototype.trim`'s white space and line terminators.
pub fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0B}'
            | '\u{0C}'
            | '\r'
            | ' '
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
            | '\u{FEFF}'
    )
}

/// `parseInt(s, 10)`: leading space, a sign, then as many digits as there are.
pub fn parse_int(s: &str) -> f64 {
    let s = s.trim_start_matches(is_space);
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return f64::NAN;
    }
    let value: f64 = rest[..digits].parse().unwrap_or(f64::NAN);
    if negative {
        -value
    } else {
        value
    }
}

/// `Number(s)` (unary `+`) for a string.
pub fn to_number(s: &str) -> f64 {
    let s = s.trim_matches(is_space);
    if s.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if s.len() > 2 && s.get(..2).is_some_and(|head| head.eq_ignore_ascii_case(prefix)) {
            let digits = &s[2..];
            if !digits.chars().all(|c| c.is_digit(radix)) {
                return f64::NAN;
            }
            return digits.chars().fold(0.0, |acc, c| {
                acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
            });
        }
    }
    let (sign, body) = match s.as_bytes()[0] {
        b'-' => (-1.0, &s[1..]),
        b'+' => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    if body == "Infinity" {
        return sign * f64::INFINITY;
    }
    if !is_decimal_literal(body) {
        return f64::NAN;
    }
    body.parse::<f64>().map_or(f64::NAN, |v| sign * v)
}

/// `digits [. digits] [e [+-] digits]` or `. digits [...]`, unsigned.
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

/// `String(n)` for a number.
pub fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return "0".into();
    }
    let magnitude = n.abs();
    if (1e-7..1e21).contains(&magnitude) {
        return format!("{n}");
    }
    // Rust writes `1e21` and `1.5e-7`; JavaScript signs a positive exponent.
    let text = format!("{n:e}");
    match text.split_once('e') {
        Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
        _ => text,
    }
}

/// `String.prototype.length`: UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_javascript() {
        assert_eq!(parse_int("12ab"), 12.0);
        assert!(parse_int("").is_nan());
        assert!(parse_int("L").is_nan());
        assert_eq!(parse_int("-3"), -3.0);
        assert_eq!(to_number(""), 0.0);
        assert_eq!(to_number("0x1A"), 26.0);
        assert_eq!(to_number("1e1"), 10.0);
        assert!(to_number("5L").is_nan());
        assert!(to_number("inf").is_nan());
        assert_eq!(number_to_string(59.9), "59.9");
        assert_eq!(number_to_string(1e21), "1e+21");
        assert_eq!(number_to_string(1e20), "100000000000000000000");
        assert_eq!(number_to_string(-0.0), "0");
        assert_eq!(number_to_string(f64::NAN), "NaN");
    }
}
