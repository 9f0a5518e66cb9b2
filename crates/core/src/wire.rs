//! PHP `http_build_query` encoding, the body format of every event delivery.
//!
//! Bitrix24's queue posts `application/x-www-form-urlencoded` bodies with bracketed keys
//! (`data%5BFIELDS%5D%5BID%5D=553`). The rules follow PHP's encoder (decision 25): every byte but
//! ASCII letters, digits and `-_.` is percent-encoded (so `*` and `~` too, unlike the WHATWG
//! form encoder), spaces become `+`, `true` is `1`, `false` is `0`, nulls and empty arrays
//! produce no pair at all, and a float is written as PHP turns it into a string (`1.0` → `1`,
//! `1e20` → `1.0E+20`). Key order is the tree's order, so callers build the payload in the order
//! Bitrix24 sends it (`event`, `event_handler_id`, `data`, `ts`, `auth`).

use serde_json::{Number, Value};

/// Encodes a JSON object as a PHP form body. Non-object input encodes to an empty string.
pub fn http_build_query(tree: &Value) -> String {
    let mut out = String::new();
    if let Value::Object(map) = tree {
        for (key, value) in map {
            append(&mut out, key, value);
        }
    }
    out
}

fn append(out: &mut String, key: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => pair(out, key, if *b { "1" } else { "0" }),
        Value::Number(n) => pair(out, key, &php_number(n)),
        Value::String(s) => pair(out, key, s),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                append(out, &format!("{key}[{index}]"), item);
            }
        }
        Value::Object(map) => {
            for (child, item) in map {
                append(out, &format!("{key}[{child}]"), item);
            }
        }
    }
}

fn pair(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    urlencode(out, key);
    out.push('=');
    urlencode(out, value);
}

/// PHP's `urlencode`: only `[A-Za-z0-9_.-]` stay as they are.
fn urlencode(out: &mut String, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(byte as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
}

/// A number as PHP's string conversion writes it: integers as digits, floats with 14
/// significant digits, in exponent form (`1.0E+20`, `1.5E-7`) below 1e-4 or from 1e14 up.
fn php_number(n: &Number) -> String {
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() => php_float(f),
        _ => n.to_string(),
    }
}

fn php_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NAN".into()
        } else if f > 0.0 {
            "INF".into()
        } else {
            "-INF".into()
        };
    }
    // 14 significant digits, rounded once; the exponent is read after rounding.
    let scientific = format!("{f:.13e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..14).contains(&exponent) {
        let mut mantissa = trim_fraction(mantissa);
        if !mantissa.contains('.') {
            mantissa.push_str(".0");
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}E{sign}{}", exponent.abs());
    }
    let decimals = (13 - exponent).max(0) as usize;
    trim_fraction(&format!("{f:.decimals$}"))
}

/// Drops trailing zeros of a fraction, and the point when nothing is left after it.
fn trim_fraction(text: &str) -> String {
    if !text.contains('.') {
        return text.to_string();
    }
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_form;
    use serde_json::json;

    #[test]
    fn encodes_like_php() {
        let body = http_build_query(&json!({
            "event": "ONCRMCONTACTUSERFIELDADD",
            "data": {"FIELDS": {"ID": 553, "NAME": "a b&c"}},
            "flags": [true, false],
            "skip": null,
            "empty": [],
            "auth": {"client_endpoint": "https://x.bitrix24.com/rest/"}
        }));
        assert_eq!(
            body,
            "event=ONCRMCONTACTUSERFIELDADD&data%5BFIELDS%5D%5BID%5D=553\
             &data%5BFIELDS%5D%5BNAME%5D=a+b%26c&flags%5B0%5D=1&flags%5B1%5D=0\
             &auth%5Bclient_endpoint%5D=https%3A%2F%2Fx.bitrix24.com%2Frest%2F"
        );
    }

    #[test]
    fn escapes_and_floats_as_php_does() {
        // Compared with PHP 8.2's own http_build_query output.
        let body = http_build_query(&json!({
            "s": "a*b~c-d_e.f g!", "k*": 1,
            "a": 1.0, "b": 0.1, "c": 1e20, "d": 1.5e-7, "e": -2.5,
            "f": 1e15, "g": 0.0001, "h": 123456789012345678.0, "i": 1.25e16, "z": -0.0
        }));
        assert_eq!(
            body,
            "s=a%2Ab%7Ec-d_e.f+g%21&k%2A=1&a=1&b=0.1&c=1.0E%2B20&d=1.5E-7&e=-2.5\
             &f=1.0E%2B15&g=0.0001&h=1.2345678901235E%2B17&i=1.25E%2B16&z=-0"
        );
    }

    #[test]
    fn round_trips_through_the_php_decoder() {
        let tree = json!({
            "event": "X",
            "data": {"FIELDS": {"ID": "1", "LIST": ["a", "b"]}},
            "auth": {"domain": "d.example", "member_id": "m"}
        });
        let decoded = parse_form(http_build_query(&tree).as_bytes()).unwrap();
        assert_eq!(Value::Object(decoded), tree);
    }
}
