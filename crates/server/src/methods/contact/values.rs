//! Custom-field values on contacts, typed by the field's definition (decision 19).
//!
//! Stored as text, one row per value: integers and doubles as numbers, booleans `1`/`0`, dates
//! `YYYY-MM-DD`, datetimes Unix seconds, enumeration values the item id, money `amount|CUR`,
//! everything else the string sent.
//!
//! Choices where the specs are open:
//! - Values are coerced, not refused (as the type classes do): a value that cannot be read as
//!   its type (a non-numeric integer, an enumeration id that is not an item of the field, a
//!   date that does not parse) is dropped; for a single field that clears it.
//! - A money amount without a currency gets `USD`; `""`, `"|EUR"` and a bare currency clear it.
//! - Date reads are that day's midnight UTC written in the portal's offset (decision 19).
//! - `file` values are stored file ids (uploads are stored first, see [`super::files`]).

use b24lite_core::params::{as_php_int, as_php_string, php_array_values};
use b24lite_store::userfields::{EnumItem, FieldDef};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::{Value, json};

use crate::methods::userfield::settings::number;
use crate::rest::envelope::format_date;

/// Default currency appended to a bare money amount.
const DEFAULT_CURRENCY: &str = "USD";

/// The stored texts for a value sent for `field` (an empty list clears the field).
pub fn to_stored(
    field: &FieldDef,
    items: &[EnumItem],
    value: &Value,
    offset: FixedOffset,
) -> Vec<String> {
    let inputs: Vec<&Value> = match value {
        Value::Array(_) | Value::Object(_) => php_array_values(value),
        other => vec![other],
    };
    let mut out: Vec<String> = inputs
        .into_iter()
        .filter_map(|v| one(field, items, v, offset))
        .collect();
    if !field.multiple {
        out.truncate(1);
    }
    out
}

fn one(field: &FieldDef, items: &[EnumItem], value: &Value, offset: FixedOffset) -> Option<String> {
    let text = as_php_string(value)?;
    let text = text.trim();
    if text.is_empty() && field.user_type_id != "boolean" {
        return None;
    }
    match field.user_type_id.as_str() {
        "integer" | "employee" | "file" | "iblock_section" | "iblock_element" => {
            let n = text.parse::<f64>().ok()?;
            let n = n as i64;
            (field.user_type_id == "integer" || n > 0).then(|| n.to_string())
        }
        "double" => number(text).map(|n| n.to_string()),
        "boolean" => Some(if truthy(value, text) { "1" } else { "0" }.to_string()),
        "date" => parse_date(text, offset).map(|d| d.format("%Y-%m-%d").to_string()),
        "datetime" => parse_datetime(text, offset).map(|t| t.to_string()),
        "enumeration" => {
            let id = as_php_int(value);
            items
                .iter()
                .any(|i| i.id == id && i.field_id == field.id)
                .then(|| id.to_string())
        }
        "money" => money(text),
        _ => Some(text.to_string()),
    }
}

fn truthy(value: &Value, text: &str) -> bool {
    match value {
        Value::Bool(b) => *b,
        _ => matches!(text.to_ascii_uppercase().as_str(), "1" | "Y" | "TRUE"),
    }
}

fn money(text: &str) -> Option<String> {
    let (amount, currency) = text.split_once('|').unwrap_or((text, ""));
    let amount = number(amount)?;
    let currency = currency.trim().to_ascii_uppercase();
    let currency = if currency.is_empty() {
        DEFAULT_CURRENCY.to_string()
    } else {
        currency
    };
    Some(format!("{amount}|{currency}"))
}

/// A day from `YYYY-MM-DD` or an ISO datetime (its day in the portal's offset).
pub fn parse_date(text: &str, offset: FixedOffset) -> Option<NaiveDate> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(day);
    }
    let unix = parse_datetime(text, offset)?;
    Some(
        DateTime::from_timestamp(unix, 0)?
            .with_timezone(&offset)
            .date_naive(),
    )
}

/// Unix seconds from an ISO 8601 datetime (with offset), or a local `YYYY-MM-DD[ T]HH:MM:SS` or
/// `YYYY-MM-DD` read in the portal's offset.
pub fn parse_datetime(text: &str, offset: FixedOffset) -> Option<i64> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(t.timestamp());
    }
    let local = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()?
                .and_hms_opt(0, 0, 0)
        })?;
    Some(offset.from_local_datetime(&local).single()?.timestamp())
}

/// The JSON a read shows for a field's stored texts.
pub fn to_json(field: &FieldDef, contact_id: i64, stored: &[&str], offset: FixedOffset) -> Value {
    let values: Vec<Value> = stored
        .iter()
        .filter_map(|s| read_one(field, contact_id, s, offset))
        .collect();
    if field.multiple {
        Value::Array(values)
    } else {
        values.into_iter().next().unwrap_or(Value::Null)
    }
}

fn read_one(field: &FieldDef, contact_id: i64, stored: &str, offset: FixedOffset) -> Option<Value> {
    Some(match field.user_type_id.as_str() {
        "file" => super::files::file_json(contact_id, &field.field_name, stored.parse().ok()?),
        "integer" => json!(stored.parse::<i64>().ok()?),
        "double" => number(stored)?,
        "date" => {
            let day = NaiveDate::parse_from_str(stored, "%Y-%m-%d").ok()?;
            let midnight = day.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
            json!(format_date(midnight as f64, offset))
        }
        "datetime" => json!(format_date(stored.parse::<i64>().ok()? as f64, offset)),
        _ => json!(stored),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(user_type_id: &str, multiple: bool) -> FieldDef {
        FieldDef {
            id: 1,
            entity_id: "CRM_CONTACT".into(),
            field_name: "UF_CRM_X".into(),
            user_type_id: user_type_id.into(),
            xml_id: None,
            sort: 100,
            multiple,
            mandatory: false,
            show_filter: "N".into(),
            show_in_list: true,
            edit_in_list: true,
            is_searchable: false,
            settings: json!({}),
            labels: json!({}),
        }
    }

    #[test]
    fn round_trips() {
        let plus3 = FixedOffset::east_opt(3 * 3600).unwrap();
        let date = field("date", false);
        let stored = to_stored(&date, &[], &json!("2024-08-22"), plus3);
        assert_eq!(stored, vec!["2024-08-22"]);
        let strs: Vec<&str> = stored.iter().map(String::as_str).collect();
        assert_eq!(
            to_json(&date, 1, &strs, plus3),
            json!("2024-08-22T03:00:00+03:00")
        );
        let money = field("money", true);
        assert_eq!(
            to_stored(&money, &[], &json!(["300", "1.5|eur", "EUR"]), plus3),
            vec!["300|USD", "1.5|EUR"]
        );
        let flag = field("boolean", false);
        assert_eq!(to_stored(&flag, &[], &json!("N"), plus3), vec!["0"]);
    }
}
