//! Request parameters, decoded the way PHP fills `$_REQUEST`.
//!
//! Bitrix24 is a PHP application, so every classic REST call sees its parameters as one PHP
//! array, whatever the transport: query string, `application/x-www-form-urlencoded` or
//! `multipart/form-data` bodies (bracketed keys such as `fields[LIST][0][VALUE]`), or a JSON body.
//! We keep that tree as a [`serde_json::Value`]:
//!
//! - a PHP array whose keys are exactly `0..n` in order becomes a JSON array, any other PHP array
//!   a JSON object (key order preserved), mirroring what PHP's `json_encode` would print;
//! - scalars decoded from forms are always strings; JSON bodies keep their native types.
//!
//! Methods read parameters through the helpers at the bottom of this file, which accept both
//! shapes (a list sent as `a[0]=x&a[1]=y`, as `a[]=x`, or as a JSON array).

use indexmap::IndexMap;
use serde_json::{Map, Value};

/// The decoded parameters of one call: always a JSON object at the top level.
pub type Params = Map<String, Value>;

/// PHP's default `max_input_nesting_level`. PHP silently drops deeper variables; we refuse the
/// request instead so that a client never sees a call succeed with parameters missing.
pub const MAX_NESTING: usize = 64;

/// Why a parameter string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("parameter '{0}' is nested deeper than {MAX_NESTING} levels")]
    TooDeep(String),
    #[error("parameters are not valid UTF-8")]
    InvalidUtf8,
}

/// Decodes an `application/x-www-form-urlencoded` string (a query string or a form body) into
/// `into`, later keys overwriting earlier ones as PHP's `parse_str` does. Time is linear in the
/// input: every key is found through a hash index, and `[]` appends at a kept next index.
pub fn merge_form(into: &mut Params, input: &[u8]) -> Result<(), ParamsError> {
    ensure_utf8(input)?;
    let mut root = PhpArray::default();
    for (key, value) in into.iter() {
        root.set(key.clone(), Node::from_json(value));
    }
    for (key, value) in form_urlencoded::parse(input) {
        insert_form_pair(&mut root, &key, value.into_owned())?;
    }
    *into = match Node::Map(root).into_json() {
        Value::Object(map) => map,
        _ => Params::new(),
    };
    Ok(())
}

/// Refuses input whose percent-decoded keys or values are not UTF-8 (the decoder below would
/// otherwise replace the bad bytes silently and store altered data).
fn ensure_utf8(input: &[u8]) -> Result<(), ParamsError> {
    for part in input.split(|b| *b == b'&' || *b == b'=') {
        let decoded: Vec<u8> = percent_encoding::percent_decode(part).collect();
        if std::str::from_utf8(&decoded).is_err() {
            return Err(ParamsError::InvalidUtf8);
        }
    }
    Ok(())
}

/// Percent-decodes one URL path segment (`+` stays a plus); `None` when the result is not UTF-8.
pub fn decode_path_segment(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Whether a JSON value nests arrays or objects more than `max` levels deep (the same bound
/// [`MAX_NESTING`] puts on bracketed form keys).
pub fn nested_deeper_than(value: &Value, max: usize) -> bool {
    let children: Box<dyn Iterator<Item = &Value>> = match value {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return false,
    };
    max == 0 || children.into_iter().any(|v| nested_deeper_than(v, max - 1))
}

/// Decodes a form string into a fresh parameter map.
pub fn parse_form(input: &[u8]) -> Result<Params, ParamsError> {
    let mut params = Params::new();
    merge_form(&mut params, input)?;
    Ok(params)
}

/// Merges `overlay` over `base` key by key at the top level, the overlay winning on a clash
/// (`$_REQUEST` with the body after the query string).
pub fn merge_over(base: &mut Params, overlay: Params) {
    for (key, value) in overlay {
        base.insert(key, value);
    }
}

/// A PHP array under construction: keys in insertion order with a hash index, and the next key
/// that `[]` appends at (one more than the largest integer key so far, or 0).
#[derive(Debug, Clone, Default)]
struct PhpArray {
    entries: IndexMap<String, Node>,
    largest_int_key: Option<i64>,
}

impl PhpArray {
    fn set(&mut self, key: String, node: Node) {
        self.note_key(&key);
        self.entries.insert(key, node);
    }

    fn note_key(&mut self, key: &str) {
        if let Ok(n) = key.parse::<i64>() {
            self.largest_int_key = Some(self.largest_int_key.map_or(n, |m| m.max(n)));
        }
    }

    /// The key PHP gives to `name[]`.
    fn append_key(&self) -> String {
        self.largest_int_key
            .map_or(0, |m| m.saturating_add(1))
            .to_string()
    }

    /// The child array under `key`, created (or replacing a scalar) as PHP does.
    fn child(&mut self, key: String) -> &mut PhpArray {
        self.note_key(&key);
        let slot = self
            .entries
            .entry(key)
            .or_insert_with(|| Node::Map(PhpArray::default()));
        if !matches!(slot, Node::Map(_)) {
            *slot = Node::Map(PhpArray::default());
        }
        match slot {
            Node::Map(child) => child,
            Node::Scalar(_) => unreachable!("replaced by an array just above"),
        }
    }
}

/// A PHP value under construction: an array or a scalar.
#[derive(Debug, Clone)]
enum Node {
    Scalar(Value),
    Map(PhpArray),
}

impl Node {
    fn from_json(value: &Value) -> Node {
        let mut array = PhpArray::default();
        match value {
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    array.set(i.to_string(), Node::from_json(v));
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    array.set(k.clone(), Node::from_json(v));
                }
            }
            scalar => return Node::Scalar(scalar.clone()),
        }
        Node::Map(array)
    }

    fn into_json(self) -> Value {
        match self {
            Node::Scalar(value) => value,
            Node::Map(array) => {
                let entries = array.entries;
                let dense = entries.keys().enumerate().all(|(i, k)| *k == i.to_string());
                if dense && !entries.is_empty() {
                    Value::Array(entries.into_values().map(Node::into_json).collect())
                } else {
                    Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, n)| (k, n.into_json()))
                            .collect(),
                    )
                }
            }
        }
    }
}

/// Splits `name[a][b][]` into `name` and `["a", "b", ""]`, following PHP's rules: the base name
/// has leading spaces removed and ` ` / `.` turned into `_`; an unclosed `[` ends the path and
/// becomes `_` in the base name; anything after the last `]` is ignored.
fn split_key(raw: &str) -> (String, Vec<String>) {
    let trimmed = raw.trim_start_matches(' ');
    let Some(open) = trimmed.find('[') else {
        return (php_base_name(trimmed), Vec::new());
    };
    let mut segments = Vec::new();
    let mut rest = &trimmed[open..];
    while let Some(stripped) = rest.strip_prefix('[') {
        match stripped.find(']') {
            Some(close) => {
                segments.push(stripped[..close].to_string());
                rest = &stripped[close + 1..];
            }
            None if segments.is_empty() => {
                return (php_base_name(&trimmed.replacen('[', "_", 1)), Vec::new());
            }
            None => break,
        }
    }
    (php_base_name(&trimmed[..open]), segments)
}

fn php_base_name(name: &str) -> String {
    name.chars()
        .map(|c| if c == ' ' || c == '.' { '_' } else { c })
        .collect()
}

fn insert_form_pair(root: &mut PhpArray, raw_key: &str, value: String) -> Result<(), ParamsError> {
    let (base, segments) = split_key(raw_key);
    if base.is_empty() {
        return Ok(());
    }
    if segments.len() >= MAX_NESTING {
        return Err(ParamsError::TooDeep(base));
    }
    let mut path = std::iter::once(base).chain(segments).peekable();
    let mut array = root;
    while let Some(key) = path.next() {
        let key = if key.is_empty() {
            array.append_key()
        } else {
            key
        };
        if path.peek().is_none() {
            array.set(key, Node::Scalar(Value::String(value)));
            return Ok(());
        }
        array = array.child(key);
    }
    Ok(())
}

// ---- Reading parameters the way Bitrix24's PHP code does ----------------------------------

/// Looks a top-level parameter up in the spellings the CRM REST helpers try: exact, UPPER,
/// lower, Capitalised, then `ar` + Capitalised (`filter`, `FILTER`, `Filter`, `arFilter`).
pub fn lookup<'a>(params: &'a Params, name: &str) -> Option<&'a Value> {
    let capitalised = capitalise(name);
    [
        name.to_string(),
        name.to_uppercase(),
        name.to_lowercase(),
        capitalised.clone(),
        format!("ar{capitalised}"),
    ]
    .iter()
    .find_map(|candidate| params.get(candidate))
}

fn capitalise(name: &str) -> String {
    let lower = name.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Looks a parameter up ignoring letter case (the `event.*` methods read `EVENT`/`event`...).
pub fn lookup_ci<'a>(params: &'a Params, name: &str) -> Option<&'a Value> {
    params.get(name).or_else(|| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// A scalar as PHP would see it in a string context: strings as is, numbers printed, `true` as
/// `"1"`, `false` and `null` as `""`. Arrays and objects have no string form (`None`).
pub fn as_php_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("1".into()),
        Value::Bool(false) | Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// PHP's `(int)` cast: the leading number of a string (`"12abc"` → 12, `"1e2"` → 100 and
/// `"2.9"` → 2 as PHP 7.1+ reads a leading float), 0 when there is none.
pub fn as_php_int(value: &Value) -> i64 {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0),
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => leading_float(s).map_or_else(|| leading_int(s), |f| f as i64),
        _ => 0,
    }
}

/// A leading float with a fraction or an exponent (`"1e2"`, `"2.5kg"`), as PHP's numeric-prefix
/// rule reads it; `None` for a plain integer prefix (kept exact by [`leading_int`]) or none.
fn leading_float(s: &str) -> Option<f64> {
    let s = s.trim_start();
    let bytes = s.as_bytes();
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut end = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let whole = digits(end);
    end += whole;
    let mut is_float = false;
    if bytes.get(end) == Some(&b'.') && (whole > 0 || digits(end + 1) > 0) {
        end += 1 + digits(end + 1);
        is_float = true;
    }
    if whole == 0 && !is_float {
        return None;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        let exponent = digits(end + 1 + sign);
        if exponent > 0 {
            end += 1 + sign + exponent;
            is_float = true;
        }
    }
    if !is_float {
        return None;
    }
    s[..end].parse::<f64>().ok().filter(|f| f.is_finite())
}

fn leading_int(s: &str) -> i64 {
    let s = s.trim_start();
    let (sign, digits) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse::<i64>().map_or(0, |n| sign * n)
}

/// Whether a value is a PHP array (a JSON array or object).
pub fn is_php_array(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Object(_))
}

/// The elements of a PHP array in order, whether it arrived as a JSON array or as an object with
/// (possibly sparse) keys. A scalar has no elements.
pub fn php_array_values(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    }
}

/// A PHP array as `(key, value)` pairs, list indexes rendered as strings.
pub fn php_array_entries(value: &Value) -> Vec<(String, &Value)> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        _ => Vec::new(),
    }
}

/// Truthiness of a flag parameter as Bitrix24 reads booleans in requests: `true`, `1`, `Y`,
/// `y`, `true` strings are true; everything else is false.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "y" | "true"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn form(input: &str) -> Value {
        Value::Object(parse_form(input.as_bytes()).unwrap())
    }

    #[test]
    fn flat_keys_and_last_one_wins() {
        assert_eq!(form("a=1&b=2&a=3"), json!({"a": "3", "b": "2"}));
    }

    #[test]
    fn nested_brackets_build_maps_and_lists() {
        let decoded = form("fields[LIST][0][VALUE]=x&fields[LIST][1][VALUE]=y&fields[NAME]=n");
        assert_eq!(
            decoded,
            json!({"fields": {"LIST": [{"VALUE": "x"}, {"VALUE": "y"}], "NAME": "n"}})
        );
    }

    #[test]
    fn empty_brackets_append_after_the_largest_index() {
        assert_eq!(
            form("select[]=ID&select[]=NAME"),
            json!({"select": ["ID", "NAME"]})
        );
        assert_eq!(form("a[5]=x&a[]=y"), json!({"a": {"5": "x", "6": "y"}}));
        assert_eq!(form("a[k]=x&a[]=y"), json!({"a": {"k": "x", "0": "y"}}));
    }

    #[test]
    fn mixed_list_and_map_keys_stay_a_map() {
        assert_eq!(form("a[0]=x&a[b]=y"), json!({"a": {"0": "x", "b": "y"}}));
        assert_eq!(form("a[1]=x&a[0]=y"), json!({"a": {"1": "x", "0": "y"}}));
    }

    #[test]
    fn percent_encoding_and_plus_are_decoded() {
        assert_eq!(
            form("fields%5BTITLE%5D=John%26Martin+Jr&x=%D0%AF"),
            json!({"fields": {"TITLE": "John&Martin Jr"}, "x": "Я"})
        );
    }

    #[test]
    fn php_base_name_rules() {
        assert_eq!(form("a.b=1&%20c d=2"), json!({"a_b": "1", "c_d": "2"}));
        assert_eq!(form("a[b=1"), json!({"a_b": "1"}));
        assert_eq!(form("a[b]c=1"), json!({"a": {"b": "1"}}));
        assert_eq!(form("=1&[x]=2"), json!({}));
    }

    #[test]
    fn scalar_then_array_replaces_the_scalar() {
        assert_eq!(form("a=1&a[x]=2"), json!({"a": {"x": "2"}}));
        assert_eq!(form("a[x]=2&a=1"), json!({"a": "1"}));
    }

    #[test]
    fn nesting_limit_is_enforced() {
        let ok = format!("a{}=1", "[x]".repeat(MAX_NESTING - 1));
        assert!(parse_form(ok.as_bytes()).is_ok());
        let deep = format!("a{}=1", "[x]".repeat(100));
        assert_eq!(
            parse_form(deep.as_bytes()),
            Err(ParamsError::TooDeep("a".into()))
        );
    }

    #[test]
    fn json_nesting_depth() {
        let deep: Value =
            serde_json::from_str(&format!("{}1{}", "[".repeat(5), "]".repeat(5))).unwrap();
        assert!(nested_deeper_than(&deep, 4));
        assert!(!nested_deeper_than(&deep, 5));
        assert!(!nested_deeper_than(&json!({"a": 1}), 1));
        assert!(nested_deeper_than(&json!({"a": {"b": 1}}), 1));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        assert_eq!(parse_form(b"a=%FF%FE"), Err(ParamsError::InvalidUtf8));
        assert_eq!(parse_form(b"a=\xff"), Err(ParamsError::InvalidUtf8));
    }

    #[test]
    fn merging_a_form_into_json_params() {
        let mut params = parse_form(b"filter[ID]=1&start=0").unwrap();
        merge_form(&mut params, b"filter[NAME]=x&start=50").unwrap();
        assert_eq!(
            Value::Object(params),
            json!({"filter": {"ID": "1", "NAME": "x"}, "start": "50"})
        );
    }

    #[test]
    fn body_overrides_query_at_the_top_level() {
        let mut query = parse_form(b"auth=q&a[x]=1").unwrap();
        merge_over(&mut query, parse_form(b"auth=b&a[y]=2").unwrap());
        assert_eq!(Value::Object(query), json!({"auth": "b", "a": {"y": "2"}}));
    }

    #[test]
    fn lookup_tries_bitrix_spellings() {
        let params = parse_form(b"arFilter[ID]=1&ORDER[SORT]=ASC").unwrap();
        assert_eq!(lookup(&params, "filter"), Some(&json!({"ID": "1"})));
        assert_eq!(lookup(&params, "order"), Some(&json!({"SORT": "ASC"})));
        assert_eq!(lookup(&params, "select"), None);
    }

    #[test]
    fn php_casts() {
        assert_eq!(as_php_int(&json!("12abc")), 12);
        assert_eq!(as_php_int(&json!(" -7")), -7);
        assert_eq!(as_php_int(&json!("abc")), 0);
        assert_eq!(as_php_int(&json!(3.9)), 3);
        assert_eq!(as_php_int(&json!("1e2")), 100);
        assert_eq!(as_php_int(&json!("2.9kg")), 2);
        assert_eq!(as_php_int(&json!("-1.5e1")), -15);
        assert_eq!(as_php_int(&json!(".5")), 0);
        assert_eq!(as_php_int(&json!("7e")), 7);
        assert_eq!(as_php_int(&json!("12345678901234567")), 12345678901234567);
        assert_eq!(as_php_string(&json!(true)), Some("1".into()));
        assert_eq!(as_php_string(&json!([1])), None);
        assert!(is_truthy(&json!("Y")) && is_truthy(&json!(true)) && !is_truthy(&json!("N")));
    }
}
