//! Input rules of a field definition: FIELD_NAME, the Y/N flags, SHOW_FILTER, SORT and the five
//! label maps.
//!
//! Choices where the specs are open:
//! - Flags follow the server code (facts 30, 51): on add `MULTIPLE`/`MANDATORY` are `Y` when the
//!   value upper-cases to `Y`, on update `MANDATORY` only for a literal `Y`; `SHOW_IN_LIST` and
//!   `EDIT_IN_LIST` are turned off only by a literal `N`, `IS_SEARCHABLE` on only by a literal
//!   `Y`. JSON booleans are also read as `Y`/`N` (PHP would see `"1"`/`""`; a JSON client
//!   sending `true` surely means yes).
//! - `SHOW_FILTER`: `Y` in any case (or `true`) is stored as `E`, `I` for `employee`; anything
//!   else, the mode letters `I`/`E`/`S` included, is `N` (facts 30, 51).
//! - Labels: keys for languages the portal does not have are dropped (decision 16).
//! - Labels, list values and XML_IDs are cut to 255 characters ([`fit_column`]): Bitrix24 keeps
//!   them in `varchar(255)` columns of a MySQL server it requires to run without strict mode, so
//!   longer text is silently truncated there, not refused. A label is copied into every
//!   language of five maps, so cutting it first also keeps a huge one from growing eighty-fold.

use b24lite_core::RestError;
use b24lite_core::params::{as_php_int, as_php_string};
use serde_json::{Map, Value};

/// The five label properties, in the order results show them.
pub const LABEL_KEYS: [&str; 5] = [
    "EDIT_FORM_LABEL",
    "LIST_COLUMN_LABEL",
    "LIST_FILTER_LABEL",
    "ERROR_MESSAGE",
    "HELP_MESSAGE",
];

/// Characters kept of a label, a list value or an XML_ID.
pub const TEXT_COLUMN_CHARS: usize = 255;

/// `text` cut to [`TEXT_COLUMN_CHARS`] characters, as the server's database column does.
pub fn fit_column(mut text: String) -> String {
    if let Some((cut, _)) = text.char_indices().nth(TEXT_COLUMN_CHARS) {
        text.truncate(cut);
    }
    text
}

/// Longest full field name, prefix included.
const MAX_NAME: usize = 50;

/// `ERROR_CORE` with HTTP 400: storage-level refusals.
pub fn core_error(text: impl Into<String>) -> RestError {
    RestError::new(400, "ERROR_CORE", text)
}

/// Trims, upper-cases and prefixes a FIELD_NAME: `UF_CRM_X` stays, `UF_X` becomes `UF_CRM_X`,
/// anything else gets `UF_CRM_` in front.
pub fn prefixed_name(raw: &str) -> String {
    let name = raw.trim().to_ascii_uppercase();
    if name.starts_with("UF_CRM_") {
        name
    } else if let Some(rest) = name.strip_prefix("UF_") {
        format!("UF_CRM_{rest}")
    } else {
        format!("UF_CRM_{name}")
    }
}

/// The storage checks of a full name; every failing check gives one message.
pub fn name_errors(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if name.chars().count() > MAX_NAME {
        errors.push("Field name is too long (more than 50 characters).".to_string());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        errors.push(
            "Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _."
                .to_string(),
        );
    }
    errors
}

/// A non-empty trimmed string form of a scalar.
pub fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(as_php_string)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `true` for `Y`/`y`/JSON `true`.
pub fn is_yes(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::String(s) => s.trim().eq_ignore_ascii_case("Y"),
        _ => false,
    }
}

/// `true` for `N`/`n`/JSON `false`.
pub fn is_no(value: &Value) -> bool {
    match value {
        Value::Bool(b) => !*b,
        Value::String(s) => s.trim().eq_ignore_ascii_case("N"),
        _ => false,
    }
}

/// How a Y/N flag's input is compared (facts 30, 51).
#[derive(Debug, Clone, Copy)]
pub enum Flag {
    /// Yes when the value upper-cases to `Y` (add's MULTIPLE and MANDATORY).
    YesAnyCase,
    /// Yes only for a literal `Y` (IS_SEARCHABLE; MANDATORY on update).
    LiteralYes,
    /// Yes unless a literal `N` (SHOW_IN_LIST, EDIT_IN_LIST).
    UnlessLiteralNo,
}

/// A flag's new value: `current` when the key is absent; JSON booleans as they are.
pub fn flag(fields: &Map<String, Value>, key: &str, rule: Flag, current: bool) -> bool {
    let Some(value) = fields.get(key) else {
        return current;
    };
    if let Value::Bool(b) = value {
        return *b;
    }
    let text = as_php_string(value);
    match rule {
        Flag::YesAnyCase => text.is_some_and(|s| s.to_uppercase() == "Y"),
        Flag::LiteralYes => text.as_deref() == Some("Y"),
        Flag::UnlessLiteralNo => text.as_deref() != Some("N"),
    }
}

/// The stored SHOW_FILTER mode for an input value: only a yes turns the filter on, as `E`, or
/// `I` for `employee` (facts 30, 51). An application's own type is never in the filter: the
/// portal cannot know how to filter on it (fact 30).
pub fn show_filter(value: &Value, user_type_id: &str) -> String {
    let yes = match value {
        Value::Bool(b) => *b,
        other => as_php_string(other).is_some_and(|s| s.to_uppercase() == "Y"),
    };
    let mode = if !yes || crate::methods::userfield::settings::is_custom_type(user_type_id) {
        "N"
    } else if user_type_id == "employee" {
        "I"
    } else {
        "E"
    };
    mode.to_string()
}

/// SORT: a positive integer, else `fallback`.
pub fn sort(value: Option<&Value>, fallback: i64) -> i64 {
    value.map(as_php_int).filter(|n| *n > 0).unwrap_or(fallback)
}

/// The five label maps of a new field. `default` is the trimmed LABEL or, without one, the full
/// field name.
pub fn labels_for_add(fields: &Map<String, Value>, default: &str, languages: &[String]) -> Value {
    let mut labels = Map::new();
    for key in LABEL_KEYS {
        let map = label_map(fields.get(key), languages, default, default);
        labels.insert(key.to_string(), map);
    }
    Value::Object(labels)
}

/// Applies the labels given on update: a label sent replaces the whole map, languages it does
/// not name become `""`.
pub fn labels_for_update(
    stored: &Value,
    fields: &Map<String, Value>,
    languages: &[String],
) -> Value {
    let mut labels = stored.as_object().cloned().unwrap_or_default();
    for key in LABEL_KEYS {
        if let Some(given) = fields.get(key) {
            labels.insert(key.to_string(), label_map(Some(given), languages, "", ""));
        }
    }
    Value::Object(labels)
}

/// One label as a map over the portal's languages. A non-empty string fills every language
/// (on update an empty string blanks them: `all` is then `""`); a map fills its languages and
/// `rest` the others; anything else gives `all` everywhere.
fn label_map(given: Option<&Value>, languages: &[String], all: &str, rest: &str) -> Value {
    let mut map = Map::new();
    match given {
        Some(Value::Object(per_language)) => {
            for lang in languages {
                let text = per_language
                    .get(lang)
                    .and_then(as_php_string)
                    .map_or_else(|| rest.to_string(), fit_column);
                map.insert(lang.clone(), Value::String(text));
            }
        }
        Some(value @ (Value::String(_) | Value::Number(_))) => {
            let text = fit_column(as_php_string(value).unwrap_or_default());
            let text = if text.is_empty() {
                all.to_string()
            } else {
                text
            };
            for lang in languages {
                map.insert(lang.clone(), Value::String(text.clone()));
            }
        }
        _ => {
            for lang in languages {
                map.insert(lang.clone(), Value::String(all.to_string()));
            }
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prefixes() {
        assert_eq!(prefixed_name(" note "), "UF_CRM_NOTE");
        assert_eq!(prefixed_name("uf_note"), "UF_CRM_NOTE");
        assert_eq!(prefixed_name("UF_CRM_NOTE"), "UF_CRM_NOTE");
        assert_eq!(prefixed_name("CRM_X"), "UF_CRM_CRM_X");
    }

    #[test]
    fn name_checks() {
        assert!(name_errors(&prefixed_name(&"A".repeat(43))).is_empty());
        assert_eq!(name_errors(&prefixed_name(&"A".repeat(44))).len(), 1);
        assert_eq!(name_errors("UF_CRM_MY-FIELD").len(), 1);
    }

    #[test]
    fn long_text_is_cut_to_the_column() {
        assert_eq!(fit_column("short".into()), "short");
        let long = "Я".repeat(300);
        assert_eq!(fit_column(long).chars().count(), TEXT_COLUMN_CHARS);
        let exact = "x".repeat(TEXT_COLUMN_CHARS);
        assert_eq!(fit_column(exact.clone()), exact);
    }

    #[test]
    fn update_label_blanks_other_languages() {
        let langs = vec!["en".to_string(), "de".to_string()];
        let fields = json!({"LIST_COLUMN_LABEL": {"en": "E", "ru": "R"}});
        let labels = labels_for_update(&json!({}), fields.as_object().unwrap(), &langs);
        assert_eq!(labels, json!({"LIST_COLUMN_LABEL": {"en": "E", "de": ""}}));
    }
}
