//! Pieces of the JSON text in which jobs cross to JavaScript.

/// Writes `s` as a JSON string (ids and tokens rarely need escaping).
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tokens_are_json_strings() {
        for s in ["1", "w:1", "a\"b", "back\\slash", "tab\there", "é"] {
            let mut out = Vec::new();
            push_json_str(&mut out, s);
            assert_eq!(serde_json::from_slice::<String>(&out).unwrap(), s);
        }
    }
}
