//! The sixteen built-in `USER_TYPE_ID`s and their SETTINGS: keys, JSON types, defaults and the
//! coercion applied on add and on update (reference facts 33, 52, 58; decision 14).
//!
//! Choices where the specs are open:
//! - Settings values are coerced, never refused (as the type classes do): out-of-range numbers
//!   are clamped, unknown DISPLAY modes fall back to the default, a FIXED date default that does
//!   not parse becomes NONE.
//! - Keys the type does not know are dropped; the keys the type fills itself (for example `SIZE`
//!   of a string) are accepted as well as the documented add keys.
//! - `double` without PRECISION gets 2 (decision 14). On update only the keys the server's
//!   REST pass copies are merged ([`update_keys`], fact 52): a `date` default, a string's `SIZE`
//!   or any setting of `money`, `url`, `address`, `file` cannot be changed after add.

use b24lite_core::params::{as_php_int, as_php_string};
use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{Map, Value, json};

/// Built-in types with their English titles, in `crm.userfield.types` order.
pub const TYPES: [(&str, &str); 16] = [
    ("string", "String"),
    ("integer", "Integer"),
    ("double", "Number"),
    ("boolean", "Yes/No"),
    ("enumeration", "List"),
    ("datetime", "Date/Time"),
    ("date", "Date"),
    ("money", "Money"),
    ("url", "Link"),
    ("address", "Google Maps Address"),
    ("file", "File"),
    ("employee", "Binding to User"),
    ("crm_status", "Binding to CRM Directories"),
    ("iblock_section", "Binding to Information Block Sections"),
    ("iblock_element", "Binding to Information Block Elements"),
    ("crm", "Binding to CRM Entities"),
];

pub fn is_known_type(user_type_id: &str) -> bool {
    TYPES.iter().any(|(id, _)| *id == user_type_id)
}

/// A type an application registered (`rest_{app}_{code}`): its settings are the application's
/// business, kept as given and merged on update, never checked.
pub fn is_custom_type(user_type_id: &str) -> bool {
    user_type_id.starts_with("rest_")
}

/// How one setting's value is read.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An integer; below `lo` becomes `below`, above `hi` becomes `above`.
    Int {
        lo: i64,
        hi: i64,
        below: i64,
        above: i64,
    },
    /// An integer, or `null` when empty.
    IntOrNull,
    /// A number (written as PHP writes floats).
    Number,
    /// A number, or `null` when not numeric.
    NumberOrNull,
    Text,
    /// One of the listed upper-case words; the first is the fallback.
    OneOf(&'static [&'static str]),
    /// `Y`/`N`; the default is the fallback.
    YesNo,
    /// 0 or 1.
    Bit,
    /// `{TYPE, VALUE}` of a date (`false`) or datetime (`true`) default.
    DateDefault(bool),
    /// A list of strings.
    TextList,
}

/// `SIZE` of the input box: 1..255, below 1 → 20, above 255 → 255.
const SIZE: Kind = Kind::Int {
    lo: 1,
    hi: 255,
    below: 20,
    above: 255,
};

const ANY_INT: Kind = Kind::Int {
    lo: i64::MIN,
    hi: i64::MAX,
    below: 0,
    above: 0,
};

struct Setting {
    key: &'static str,
    kind: Kind,
    default: fn() -> Value,
}

macro_rules! s {
    ($key:literal, $kind:expr, $default:expr) => {
        Setting {
            key: $key,
            kind: $kind,
            default: || json!($default),
        }
    };
}

fn table(user_type_id: &str) -> Vec<Setting> {
    const DISPLAY_IBLOCK: &[&str] = &["LIST", "DIALOG", "UI", "CHECKBOX"];
    let date_default = || json!({"TYPE": "NONE", "VALUE": ""});
    match user_type_id {
        "string" => vec![
            s!(
                "SIZE",
                Kind::Int {
                    lo: 2,
                    hi: 255,
                    below: 20,
                    above: 225
                },
                20
            ),
            s!(
                "ROWS",
                Kind::Int {
                    lo: 1,
                    hi: 50,
                    below: 1,
                    above: 50
                },
                1
            ),
            s!("REGEXP", Kind::Text, ""),
            s!("MIN_LENGTH", ANY_INT, 0),
            s!("MAX_LENGTH", ANY_INT, 0),
            s!("DEFAULT_VALUE", Kind::Text, ""),
        ],
        "integer" => vec![
            s!("SIZE", SIZE, 20),
            s!("MIN_VALUE", ANY_INT, 0),
            s!("MAX_VALUE", ANY_INT, 0),
            s!("DEFAULT_VALUE", Kind::IntOrNull, Value::Null),
        ],
        "double" => vec![
            s!(
                "PRECISION",
                Kind::Int {
                    lo: 0,
                    hi: 12,
                    below: 2,
                    above: 12
                },
                2
            ),
            s!("SIZE", SIZE, 20),
            s!("MIN_VALUE", Kind::Number, 0),
            s!("MAX_VALUE", Kind::Number, 0),
            s!("DEFAULT_VALUE", Kind::NumberOrNull, Value::Null),
        ],
        "boolean" => vec![
            s!("DEFAULT_VALUE", Kind::Bit, 0),
            s!(
                "DISPLAY",
                Kind::OneOf(&["CHECKBOX", "RADIO", "DROPDOWN"]),
                "CHECKBOX"
            ),
            s!("LABEL", Kind::TextList, ["", ""]),
            s!("LABEL_CHECKBOX", Kind::Text, ""),
        ],
        "date" => vec![Setting {
            key: "DEFAULT_VALUE",
            kind: Kind::DateDefault(false),
            default: date_default,
        }],
        "datetime" => vec![
            Setting {
                key: "DEFAULT_VALUE",
                kind: Kind::DateDefault(true),
                default: date_default,
            },
            s!("USE_SECOND", Kind::YesNo, "Y"),
            s!("USE_TIMEZONE", Kind::YesNo, "N"),
        ],
        "enumeration" => vec![
            s!(
                "DISPLAY",
                Kind::OneOf(&["LIST", "UI", "CHECKBOX", "DIALOG"]),
                "LIST"
            ),
            s!(
                "LIST_HEIGHT",
                Kind::Int {
                    lo: 1,
                    hi: i64::MAX,
                    below: 1,
                    above: 1
                },
                1
            ),
            s!("CAPTION_NO_VALUE", Kind::Text, ""),
            s!("SHOW_NO_VALUE", Kind::YesNo, "Y"),
        ],
        "money" => vec![s!("DEFAULT_VALUE", Kind::Text, "")],
        "url" => vec![
            s!("POPUP", Kind::YesNo, "Y"),
            s!(
                "SIZE",
                Kind::Int {
                    lo: 2,
                    hi: 255,
                    below: 20,
                    above: 225
                },
                20
            ),
            s!("MIN_LENGTH", ANY_INT, 0),
            s!("MAX_LENGTH", ANY_INT, 0),
            s!("DEFAULT_VALUE", Kind::Text, ""),
            s!(
                "ROWS",
                Kind::Int {
                    lo: 1,
                    hi: 50,
                    below: 1,
                    above: 50
                },
                1
            ),
        ],
        "address" => vec![s!("SHOW_MAP", Kind::YesNo, "Y")],
        "file" => vec![
            s!("SIZE", SIZE, 20),
            s!("LIST_WIDTH", ANY_INT, 0),
            s!("LIST_HEIGHT", ANY_INT, 0),
            s!("MAX_SHOW_SIZE", ANY_INT, 0),
            s!("MAX_ALLOWED_SIZE", ANY_INT, 0),
            Setting {
                key: "EXTENSIONS",
                kind: Kind::TextList,
                default: || json!([]),
            },
            s!("TARGET_BLANK", Kind::YesNo, "Y"),
        ],
        "crm_status" => vec![s!("ENTITY_TYPE", Kind::Text, "")],
        "iblock_section" | "iblock_element" => vec![
            s!("IBLOCK_TYPE_ID", Kind::Text, ""),
            s!("IBLOCK_ID", ANY_INT, 0),
            s!("DEFAULT_VALUE", Kind::Text, ""),
            s!("DISPLAY", Kind::OneOf(DISPLAY_IBLOCK), "LIST"),
            s!(
                "LIST_HEIGHT",
                Kind::Int {
                    lo: 1,
                    hi: i64::MAX,
                    below: 1,
                    above: 1
                },
                1
            ),
            s!("ACTIVE_FILTER", Kind::YesNo, "N"),
        ],
        "crm" => ["LEAD", "CONTACT", "COMPANY", "DEAL"]
            .into_iter()
            .map(|key| Setting {
                key,
                kind: Kind::YesNo,
                default: || json!("N"),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// SETTINGS of a new field: every key of the type, given values coerced, others defaulted.
pub fn for_add(user_type_id: &str, given: Option<&Value>) -> Value {
    let given = given.and_then(Value::as_object);
    if is_custom_type(user_type_id) {
        return Value::Object(given.cloned().unwrap_or_default());
    }
    let mut out = Map::new();
    for setting in table(user_type_id) {
        let default = (setting.default)();
        let value = match given.and_then(|g| g.get(setting.key)) {
            Some(value) => coerce(setting.kind, value, &default),
            None => default,
        };
        out.insert(setting.key.to_string(), value);
    }
    finish(user_type_id, out)
}

/// SETTINGS after an update: the given known keys merged over the stored ones.
pub fn for_update(user_type_id: &str, stored: &Value, given: Option<&Value>) -> Value {
    let mut out = stored.as_object().cloned().unwrap_or_default();
    let Some(given) = given.and_then(Value::as_object) else {
        return finish(user_type_id, out);
    };
    if is_custom_type(user_type_id) {
        out.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
        return Value::Object(out);
    }
    let keys = update_keys(user_type_id);
    for setting in table(user_type_id) {
        if !keys.contains(&setting.key) {
            continue;
        }
        if let Some(value) = given.get(setting.key) {
            let default = (setting.default)();
            out.insert(
                setting.key.to_string(),
                coerce(setting.kind, value, &default),
            );
        }
    }
    finish(user_type_id, out)
}

/// The settings an update may change, per type (fact 52); any other key sent is ignored.
fn update_keys(user_type_id: &str) -> &'static [&'static str] {
    match user_type_id {
        "string" => &["DEFAULT_VALUE", "ROWS"],
        "integer" | "datetime" => &["DEFAULT_VALUE"],
        "double" => &["DEFAULT_VALUE", "PRECISION"],
        "boolean" => &["DEFAULT_VALUE", "DISPLAY"],
        "enumeration" => &["DISPLAY", "LIST_HEIGHT"],
        "iblock_section" | "iblock_element" => &[
            "IBLOCK_TYPE_ID",
            "IBLOCK_ID",
            "DEFAULT_VALUE",
            "DISPLAY",
            "LIST_HEIGHT",
            "ACTIVE_FILTER",
        ],
        "crm" => &["LEAD", "CONTACT", "COMPANY", "DEAL"],
        "crm_status" => &["ENTITY_TYPE"],
        _ => &[],
    }
}

/// Type-wide fix-ups: a `crm` field binds to leads when it binds to nothing.
fn finish(user_type_id: &str, mut out: Map<String, Value>) -> Value {
    if user_type_id == "crm" && !out.values().any(|v| v == "Y") {
        out.insert("LEAD".into(), json!("Y"));
    }
    Value::Object(out)
}

fn coerce(kind: Kind, value: &Value, default: &Value) -> Value {
    let text = as_php_string(value).unwrap_or_default();
    let text = text.trim();
    match kind {
        Kind::Int {
            lo,
            hi,
            below,
            above,
        } => {
            let n = as_php_int(value);
            json!(if n < lo {
                below
            } else if n > hi {
                above
            } else {
                n
            })
        }
        Kind::IntOrNull if text.is_empty() => Value::Null,
        Kind::IntOrNull => json!(as_php_int(value)),
        Kind::Number => number(text).unwrap_or(json!(0)),
        Kind::NumberOrNull => number(text).unwrap_or(Value::Null),
        Kind::Text => json!(text),
        Kind::OneOf(words) => {
            let upper = text.to_ascii_uppercase();
            json!(
                words
                    .iter()
                    .find(|w| **w == upper)
                    .copied()
                    .unwrap_or(words[0])
            )
        }
        Kind::YesNo => match text.to_ascii_uppercase().as_str() {
            "Y" | "1" => json!("Y"),
            "N" | "" => json!("N"),
            _ => default.clone(),
        },
        Kind::Bit => json!(i64::from(as_php_int(value) > 0)),
        Kind::DateDefault(with_time) => date_default(value, with_time),
        Kind::TextList => match value {
            Value::Array(_) | Value::Object(_) => Value::Array(
                b24lite_core::params::php_array_values(value)
                    .into_iter()
                    .map(|v| json!(as_php_string(v).unwrap_or_default()))
                    .collect(),
            ),
            _ => default.clone(),
        },
    }
}

/// A number as PHP would print it: integral values without a fraction.
pub fn number(text: &str) -> Option<Value> {
    let f: f64 = text.trim().parse().ok().filter(|f: &f64| f.is_finite())?;
    if f.fract() == 0.0 && f.abs() < 1e15 {
        Some(json!(f as i64))
    } else {
        Some(json!(f))
    }
}

fn date_default(value: &Value, with_time: bool) -> Value {
    let none = json!({"TYPE": "NONE", "VALUE": ""});
    let Some(map) = value.as_object() else {
        return none;
    };
    let kind = map
        .get("TYPE")
        .and_then(as_php_string)
        .unwrap_or_default()
        .to_ascii_uppercase();
    let raw = map.get("VALUE").and_then(as_php_string).unwrap_or_default();
    match kind.as_str() {
        "NOW" => json!({"TYPE": "NOW", "VALUE": ""}),
        "FIXED" => match fixed_date(raw.trim(), with_time) {
            Some(text) => json!({"TYPE": "FIXED", "VALUE": text}),
            None => none,
        },
        _ => none,
    }
}

fn fixed_date(raw: &str, with_time: bool) -> Option<String> {
    if with_time {
        let parsed = NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
            .ok()
            .or_else(|| {
                chrono::DateTime::parse_from_rfc3339(raw)
                    .ok()
                    .map(|d| d.naive_local())
            })?;
        Some(parsed.format("%Y-%m-%d %H:%M:%S").to_string())
    } else {
        let day = raw.get(..10).unwrap_or(raw);
        let parsed = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
        Some(parsed.format("%Y-%m-%d").to_string())
    }
}

/// `crm.userfield.settings.fields` for one type: the keys `add` documents, `[]` when none.
pub fn descriptor(user_type_id: &str) -> Value {
    let keys: &[(&str, &str, &str)] = match user_type_id {
        "string" => &[
            ("DEFAULT_VALUE", "string", "Default Value"),
            ("ROWS", "int", "Number of rows"),
        ],
        "integer" => &[("DEFAULT_VALUE", "int", "Default Value")],
        "double" => &[
            ("DEFAULT_VALUE", "double", "Default Value"),
            ("PRECISION", "int", "Precision"),
        ],
        "boolean" => &[
            ("DEFAULT_VALUE", "int", "Default Value"),
            ("DISPLAY", "string", "Appearance"),
        ],
        "datetime" => &[("DEFAULT_VALUE", "datetime", "Default Value")],
        "enumeration" => &[
            ("DISPLAY", "string", "Appearance"),
            ("LIST_HEIGHT", "int", "List height"),
        ],
        "iblock_section" | "iblock_element" => &[
            ("DEFAULT_VALUE", "int", "Default Value"),
            ("IBLOCK_ID", "int", "Information block ID"),
            ("IBLOCK_TYPE_ID", "string", "Information block type"),
            ("DISPLAY", "string", "Appearance"),
            ("LIST_HEIGHT", "int", "List height"),
            ("ACTIVE_FILTER", "char", "Show only active elements"),
        ],
        "crm_status" => &[("ENTITY_TYPE", "string", "Directory type")],
        "crm" => &[
            ("LEAD", "char", "Lead"),
            ("CONTACT", "char", "Contact"),
            ("COMPANY", "char", "Company"),
            ("DEAL", "char", "Deal"),
        ],
        _ => &[],
    };
    if keys.is_empty() {
        return json!([]);
    }
    let map: Map<String, Value> = keys
        .iter()
        .map(|(key, kind, title)| (key.to_string(), json!({"type": kind, "title": title})))
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_coercion() {
        assert_eq!(for_add("double", None)["PRECISION"], json!(2));
        assert_eq!(
            for_add("double", Some(&json!({"PRECISION": -1})))["PRECISION"],
            json!(2)
        );
        assert_eq!(
            for_add("string", Some(&json!({"ROWS": 99})))["ROWS"],
            json!(50)
        );
        assert_eq!(for_add("crm", None)["LEAD"], json!("Y"));
        assert_eq!(for_add("employee", None), json!({}));
        let merged = for_update(
            "string",
            &for_add("string", None),
            Some(&json!({"ROWS": 3})),
        );
        assert_eq!(
            (merged["ROWS"].clone(), merged["SIZE"].clone()),
            (json!(3), json!(20))
        );
        // Fact 52: SIZE is not among a string's updatable settings.
        let merged = for_update(
            "string",
            &for_add("string", None),
            Some(&json!({"SIZE": 50})),
        );
        assert_eq!(merged["SIZE"], json!(20));
    }
}
