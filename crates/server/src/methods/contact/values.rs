//! Custom-field values on contacts, typed by the field's definition (decision 19).
//!
//! Stored as text, one row per value: integers and doubles as numbers, booleans `1`/`0`, dates
//! `YYYY-MM-DD`, datetimes Unix seconds, enumeration values the item id, money `amount|CUR`,
//! everything else the string sent.
//!
//! Every value is checked before anything is written, as Bitrix24's user-field types do in
//! their CheckFields step; a value its type cannot convert is refused ([`Invalid`]), and the
//! contact methods refuse the whole add or update with the collected messages (see
//! [`super`]). What each type accepts (decision 19 and `userfields.md` §8.1):
//! - `integer`: a JSON number or a decimal string (`"42"`, `" -7 "`, `"4.2e1"`); a fraction is
//!   cut off as PHP's `(int)` does; beyond the 64-bit range it is refused, never clamped.
//!   `employee`, `iblock_*` and `file` ids: positive integers.
//! - `double`: a JSON number or a decimal string (no `NaN`, no infinity, no decimal comma),
//!   rounded half away from zero to `SETTINGS.PRECISION` digits (2 when unset) as Bitrix24's
//!   double type rounds before saving.
//! - `boolean`: `1`/`0`, `Y`/`N`, `true`/`false` (any case, JSON booleans and numbers too);
//!   an empty value stores `0`.
//! - `date`: `YYYY-MM-DD` or an ISO datetime (its day in the portal's offset); `datetime`: an
//!   ISO datetime, or a local `YYYY-MM-DD[ T]HH:MM:SS` / `YYYY-MM-DD` in the portal's offset.
//!   Impossible days (`2020-02-30`) and years outside 1-9999 are refused.
//! - `enumeration`: the id of one of the field's own items, as a number or a numeric string.
//! - `money`: `amount|CUR` or a bare amount (`USD` appended); `""`, `"|EUR"` and a bare
//!   three-letter currency clear it; an amount that is not a number is refused.
//! - `crm`: `PREFIX_ID` (`C_2`, `CO_3`, `T80_6`) or a bare positive id.
//! - Text types (`string`, `url`, `address`, `crm_status`, application types): any scalar.
//!
//! A single field refuses an object that is not a list (`{"a":1}`); a list sent to a single
//! field keeps its first value. Empty values (`""`, `null`, `false`, and empty entries of a
//! list) clear the field; a list entry that is itself an array or object is refused.
//!
//! Other choices: date reads are that day's midnight UTC written in the portal's offset
//! (decision 19); `file` values are stored file ids (see [`super::files`]).

use b24lite_core::params::{as_php_int, as_php_string, php_array_values};
use b24lite_store::userfields::{EnumItem, FieldDef};
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde_json::{Value, json};

use crate::methods::userfield::settings::number;
use crate::rest::envelope::format_date;

/// Default currency appended to a bare money amount.
const DEFAULT_CURRENCY: &str = "USD";
/// `SETTINGS.PRECISION` of a double field that has none (decision 14).
const DEFAULT_PRECISION: i64 = 2;

/// Why a value cannot be stored in its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    NotInteger,
    OutOfRange,
    NotNumber,
    NotBoolean,
    NotDate,
    NotDateTime,
    NotItem,
    NotAmount,
    NotText,
    NotFile,
    NotId,
    NotCrmElement,
}

impl Invalid {
    /// The end of the message: `The value of the "<label>" field <this>.`
    pub fn describe(self) -> &'static str {
        match self {
            Invalid::NotInteger => "is not an integer",
            Invalid::OutOfRange => "is out of range",
            Invalid::NotNumber => "is not a number",
            Invalid::NotBoolean => "is not a boolean (Y/N, 1/0, true/false)",
            Invalid::NotDate => "is not a valid date",
            Invalid::NotDateTime => "is not a valid date and time",
            Invalid::NotItem => "is not an item of its list",
            Invalid::NotAmount => "is not a valid amount",
            Invalid::NotText => "is not a string",
            Invalid::NotFile => "is not a valid file",
            Invalid::NotId => "is not a valid ID",
            Invalid::NotCrmElement => "is not a valid CRM element ID",
        }
    }

    /// What a value of this type that has the wrong shape is.
    fn of_type(user_type_id: &str) -> Invalid {
        match user_type_id {
            "integer" => Invalid::NotInteger,
            "double" => Invalid::NotNumber,
            "boolean" => Invalid::NotBoolean,
            "date" => Invalid::NotDate,
            "datetime" => Invalid::NotDateTime,
            "enumeration" => Invalid::NotItem,
            "money" => Invalid::NotAmount,
            "file" => Invalid::NotFile,
            "employee" | "iblock_section" | "iblock_element" => Invalid::NotId,
            "crm" => Invalid::NotCrmElement,
            _ => Invalid::NotText,
        }
    }
}

/// The stored texts for a value sent for `field` (an empty list clears the field), or why the
/// value cannot be stored.
pub fn to_stored(
    field: &FieldDef,
    items: &[EnumItem],
    value: &Value,
    offset: FixedOffset,
) -> Result<Vec<String>, Invalid> {
    let mut out = Vec::new();
    for entry in entries(field, value)? {
        out.extend(one(field, Purpose::Store(items), entry, offset)?);
    }
    if !field.multiple {
        out.truncate(1);
    }
    Ok(out)
}

/// The values a field was sent: a list's entries, or the value itself. A single field takes
/// no object that is not a list.
fn entries<'a>(field: &FieldDef, value: &'a Value) -> Result<Vec<&'a Value>, Invalid> {
    match value {
        Value::Array(_) => Ok(php_array_values(value)),
        Value::Object(map) if field.multiple || map.keys().all(|k| k.parse::<u64>().is_ok()) => {
            Ok(php_array_values(value))
        }
        Value::Object(_) => Err(Invalid::of_type(&field.user_type_id)),
        scalar => Ok(vec![scalar]),
    }
}

/// One filter value in its stored form, compared as the field's values are (no item check, no
/// rounding): `None` for an empty value.
pub fn filter_text(
    field: &FieldDef,
    value: &Value,
    offset: FixedOffset,
) -> Result<Option<String>, Invalid> {
    one(field, Purpose::Filter, value, offset)
}

/// What a value is read for.
#[derive(Debug, Clone, Copy)]
enum Purpose<'a> {
    /// To be stored: an enumeration id must be one of the field's `items`, a double is rounded
    /// to its precision.
    Store(&'a [EnumItem]),
    /// To be compared with stored values: the same form, neither checked nor rounded.
    Filter,
}

/// One scalar in its stored form (`None`: empty).
fn one(
    field: &FieldDef,
    purpose: Purpose<'_>,
    value: &Value,
    offset: FixedOffset,
) -> Result<Option<String>, Invalid> {
    let kind = field.user_type_id.as_str();
    let text = as_php_string(value).ok_or(Invalid::of_type(kind))?;
    let text = text.trim();
    if text.is_empty() && kind != "boolean" {
        return Ok(None);
    }
    let stored = match kind {
        "integer" => integer(text)?.to_string(),
        "employee" | "file" | "iblock_section" | "iblock_element" => match integer(text) {
            Ok(id) if id > 0 => id.to_string(),
            _ => return Err(Invalid::of_type(kind)),
        },
        "double" => {
            let n = decimal(text).ok_or(Invalid::NotNumber)?;
            let n = match purpose {
                Purpose::Store(_) => round_half_up(n, precision(field)),
                Purpose::Filter => n,
            };
            finite(n)?.to_string()
        }
        "boolean" => boolean(value, text)?.to_string(),
        "date" => parse_date(text, offset)
            .ok_or(Invalid::NotDate)?
            .format("%Y-%m-%d")
            .to_string(),
        "datetime" => parse_datetime(text, offset)
            .ok_or(Invalid::NotDateTime)?
            .to_string(),
        "enumeration" => {
            let id = text.parse::<i64>().map_err(|_| Invalid::NotItem)?;
            let known = match purpose {
                Purpose::Store(items) => items.iter().any(|i| i.id == id && i.field_id == field.id),
                Purpose::Filter => true,
            };
            if !known {
                return Err(Invalid::NotItem);
            }
            id.to_string()
        }
        "money" => return money(text),
        "crm" if !is_crm_element(text) => return Err(Invalid::NotCrmElement),
        _ => text.to_string(),
    };
    Ok(Some(stored))
}

/// An integer from a decimal text: exact when it is one, else the number cut to its integer
/// part; refused beyond the 64-bit range.
fn integer(text: &str) -> Result<i64, Invalid> {
    if let Ok(n) = text.parse::<i64>() {
        return Ok(n);
    }
    let n = decimal(text).ok_or(Invalid::NotInteger)?;
    // 2^63: the first double above i64::MAX; -2^63 is i64::MIN itself.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if n.is_finite() && (-LIMIT..LIMIT).contains(&n) {
        Ok(n.trunc() as i64)
    } else {
        Err(Invalid::OutOfRange)
    }
}

/// A number written in decimal notation (`-1.5`, `.5`, `2e3`); not `NaN`, `inf`, `0x10` or
/// `1,5`, which Rust's parser or PHP's casts would also read. May be infinite (`1e999`).
fn decimal(text: &str) -> Option<f64> {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    let ok = digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    (ok && exponent_ok).then(|| text.parse().ok()).flatten()
}

fn finite(n: f64) -> Result<Value, Invalid> {
    if !n.is_finite() {
        return Err(Invalid::OutOfRange);
    }
    number(&n.to_string()).ok_or(Invalid::NotNumber)
}

fn precision(field: &FieldDef) -> usize {
    let precision = field
        .settings
        .get("PRECISION")
        .map_or(DEFAULT_PRECISION, as_php_int);
    precision.clamp(0, 30) as usize
}

/// `n` rounded half away from zero to `digits` decimals, on its shortest decimal form (as PHP's
/// `round` pre-rounds: `1.005` becomes `1.01`, where scaling the binary value gives `1.00`).
fn round_half_up(n: f64, digits: usize) -> f64 {
    let text = n.abs().to_string();
    let Some((whole, fraction)) = text.split_once('.') else {
        return n;
    };
    if fraction.len() <= digits {
        return n;
    }
    let mut kept: Vec<u8> = format!("{whole}{}", &fraction[..digits]).into_bytes();
    if fraction.as_bytes()[digits] >= b'5' {
        let mut carry = true;
        for digit in kept.iter_mut().rev() {
            if *digit == b'9' {
                *digit = b'0';
            } else {
                *digit += 1;
                carry = false;
                break;
            }
        }
        if carry {
            kept.insert(0, b'1');
        }
    }
    let kept = String::from_utf8(kept).expect("ASCII digits");
    let (whole, fraction) = kept.split_at(kept.len() - digits);
    let rounded: f64 = format!("{whole}.{fraction}0").parse().unwrap_or(n.abs());
    rounded.copysign(n)
}

fn boolean(value: &Value, text: &str) -> Result<u8, Invalid> {
    let yes = match value {
        Value::Bool(b) => *b,
        Value::Null => false,
        _ => match text.to_ascii_uppercase().as_str() {
            "1" | "Y" | "TRUE" => true,
            "0" | "N" | "FALSE" | "" => false,
            _ => return Err(Invalid::NotBoolean),
        },
    };
    Ok(u8::from(yes))
}

fn money(text: &str) -> Result<Option<String>, Invalid> {
    let (amount, currency) = text.split_once('|').unwrap_or((text, ""));
    let amount = amount.trim();
    let bare_currency =
        !text.contains('|') && amount.len() == 3 && amount.bytes().all(|b| b.is_ascii_alphabetic());
    if amount.is_empty() || bare_currency {
        return Ok(None);
    }
    let amount = finite(decimal(amount).ok_or(Invalid::NotAmount)?)?;
    let currency = currency.trim().to_ascii_uppercase();
    let currency = if currency.is_empty() {
        DEFAULT_CURRENCY.to_string()
    } else {
        currency
    };
    Ok(Some(format!("{amount}|{currency}")))
}

/// `PREFIX_ID` (`C_2`, `CO_3`, `T80_6`) or a bare id.
fn is_crm_element(text: &str) -> bool {
    let id =
        |s: &str| !s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('_') {
        Some((prefix, rest)) => {
            prefix.starts_with(|c: char| c.is_ascii_alphabetic())
                && prefix.bytes().all(|b| b.is_ascii_alphanumeric())
                && id(rest)
        }
        None => id(text),
    }
}

/// Years a stored date may have: four digits keep `YYYY-MM-DD` texts in date order.
fn plausible(day: NaiveDate) -> Option<NaiveDate> {
    (1..=9999).contains(&day.year()).then_some(day)
}

/// A day from `YYYY-MM-DD` or an ISO datetime (its day in the portal's offset).
pub fn parse_date(text: &str, offset: FixedOffset) -> Option<NaiveDate> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return plausible(day);
    }
    let unix = parse_datetime(text, offset)?;
    plausible(
        DateTime::from_timestamp(unix, 0)?
            .with_timezone(&offset)
            .date_naive(),
    )
}

/// Unix seconds from an ISO 8601 datetime (with offset), or a local `YYYY-MM-DD[ T]HH:MM:SS` or
/// `YYYY-MM-DD` read in the portal's offset.
pub fn parse_datetime(text: &str, offset: FixedOffset) -> Option<i64> {
    let unix = parse_any_datetime(text, offset)?;
    DateTime::from_timestamp(unix, 0)
        .and_then(|t| plausible(t.date_naive()))
        .map(|_| unix)
}

fn parse_any_datetime(text: &str, offset: FixedOffset) -> Option<i64> {
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

/// The JSON a read shows for a field's stored texts. `file_secret` signs the URLs of files.
pub fn to_json(
    field: &FieldDef,
    contact_id: i64,
    stored: &[&str],
    offset: FixedOffset,
    file_secret: &str,
) -> Value {
    let values: Vec<Value> = stored
        .iter()
        .filter_map(|s| read_one(field, contact_id, s, offset, file_secret))
        .collect();
    if field.multiple {
        Value::Array(values)
    } else {
        values.into_iter().next().unwrap_or(Value::Null)
    }
}

fn read_one(
    field: &FieldDef,
    contact_id: i64,
    stored: &str,
    offset: FixedOffset,
    file_secret: &str,
) -> Option<Value> {
    Some(match field.user_type_id.as_str() {
        "file" => {
            let file_id = stored.parse().ok()?;
            super::files::file_json(file_secret, contact_id, &field.field_name, file_id)
        }
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

    fn plus3() -> FixedOffset {
        FixedOffset::east_opt(3 * 3600).unwrap()
    }

    #[test]
    fn round_trips() {
        let date = field("date", false);
        let stored = to_stored(&date, &[], &json!("2024-08-22"), plus3()).unwrap();
        assert_eq!(stored, vec!["2024-08-22"]);
        let strs: Vec<&str> = stored.iter().map(String::as_str).collect();
        assert_eq!(
            to_json(&date, 1, &strs, plus3(), ""),
            json!("2024-08-22T03:00:00+03:00")
        );
        let money = field("money", true);
        assert_eq!(
            to_stored(
                &money,
                &[],
                &json!(["300", "1.5|eur", "EUR", "|EUR"]),
                plus3()
            ),
            Ok(vec!["300|USD".to_string(), "1.5|EUR".to_string()])
        );
        let flag = field("boolean", false);
        assert_eq!(
            to_stored(&flag, &[], &json!("N"), plus3()),
            Ok(vec!["0".to_string()])
        );
    }

    #[test]
    fn decimal_notation_only() {
        for (text, expected) in [
            ("42", Some(42.0)),
            ("-1.5", Some(-1.5)),
            ("+.5", Some(0.5)),
            ("5.", Some(5.0)),
            ("2E3", Some(2000.0)),
            ("1e-2", Some(0.01)),
        ] {
            assert_eq!(decimal(text), expected, "{text}");
        }
        for text in [
            "NaN",
            "inf",
            "-infinity",
            "1,5",
            "0x10",
            "1e",
            ".",
            "",
            "1.2.3",
            "- 1",
        ] {
            assert_eq!(decimal(text), None, "{text}");
        }
    }

    #[test]
    fn integers_are_cut_or_refused_never_clamped() {
        assert_eq!(integer("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(integer("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(integer("42.9"), Ok(42));
        assert_eq!(integer("-4.2e1"), Ok(-42));
        assert_eq!(integer("9223372036854775808"), Err(Invalid::OutOfRange));
        assert_eq!(integer("1e300"), Err(Invalid::OutOfRange));
        assert_eq!(integer("12abc"), Err(Invalid::NotInteger));
    }

    #[test]
    fn doubles_round_half_away_from_zero_on_their_decimal_form() {
        assert_eq!(round_half_up(1.005, 2), 1.01);
        assert_eq!(round_half_up(-1.005, 2), -1.01);
        assert_eq!(round_half_up(2.5, 0), 3.0);
        assert_eq!(round_half_up(9.996, 2), 10.0);
        assert_eq!(round_half_up(1.23456, 3), 1.235);
        assert_eq!(round_half_up(1.2, 5), 1.2);
        assert_eq!(round_half_up(1e300, 2), 1e300);
        let mut price = field("double", false);
        price.settings = json!({"PRECISION": 1});
        assert_eq!(
            to_stored(&price, &[], &json!("2.25"), plus3()),
            Ok(vec!["2.3".to_string()])
        );
        price.settings = json!({});
        assert_eq!(
            to_stored(&price, &[], &json!(2.345), plus3()),
            Ok(vec!["2.35".to_string()])
        );
        assert_eq!(
            filter_text(&price, &json!("2.345"), plus3()),
            Ok(Some("2.345".into()))
        );
    }

    #[test]
    fn dates_must_exist() {
        let date = field("date", false);
        for text in ["1990-13-45", "2020-02-30", "yesterday", "10000-01-01"] {
            assert_eq!(
                to_stored(&date, &[], &json!(text), plus3()),
                Err(Invalid::NotDate),
                "{text}"
            );
        }
        assert_eq!(
            to_stored(&date, &[], &json!("2024-08-21T23:30:00+00:00"), plus3()),
            Ok(vec!["2024-08-22".to_string()])
        );
    }

    #[test]
    fn shapes() {
        let text = field("string", false);
        assert_eq!(
            to_stored(&text, &[], &json!({"a": 1}), plus3()),
            Err(Invalid::NotText)
        );
        assert_eq!(
            to_stored(&text, &[], &json!(["x", "y"]), plus3()),
            Ok(vec!["x".to_string()])
        );
        let tags = field("string", true);
        assert_eq!(
            to_stored(&tags, &[], &json!(["a", ["b"]]), plus3()),
            Err(Invalid::NotText)
        );
        assert_eq!(
            to_stored(&tags, &[], &json!([null, ""]), plus3()),
            Ok(vec![])
        );
        let link = field("crm", true);
        assert_eq!(
            to_stored(&link, &[], &json!(["C_2", "T80_6", 7]), plus3()).map(|v| v.len()),
            Ok(3)
        );
        assert_eq!(
            to_stored(&link, &[], &json!(["C_02"]), plus3()),
            Err(Invalid::NotCrmElement)
        );
    }
}
