//! `crm.contact.list`: `select` masks, `filter` with Bitrix24's operator prefixes, `order`,
//! and pages of 50 chosen by `start` (`start=-1`: no count, decision 8).
//!
//! Filter keys: the standard columns and the contact custom fields, prefixed by one of `>=`,
//! `>`, `<=`, `<`, `=` (or none), `!=`/`!` (not equal), `@` (in a list), `!@` (not in a list),
//! `%`/`=%`/`%=` (substring, case-insensitive) or `!%`. Choices where the specs are open:
//! - Values are converted by the field's type first and compared in their stored form
//!   (integer, double, datetime, boolean, enumeration and id types as numbers; dates as
//!   `YYYY-MM-DD`); a value the type cannot read matches nothing (everything when negated).
//! - A custom-field condition holds when any of the contact's values matches (a multiple field
//!   through any of its values); the `!` forms hold when none does, contacts without a value
//!   included.
//! - An empty value (`""`, `null`, `false`) asks for "no value" (`!`: "has a value"); for a
//!   standard column that is an empty text or 0. A boolean field without a value counts as
//!   `0`, as on a portal, where the type's default 0 is stored with every contact.
//! - A list value with no prefix or `=` means `@`, with `!`/`!=` it means `!@` (as Bitrix24's
//!   filters read arrays); `@` with a scalar is a list of one. Other prefixes ignore lists.
//! - A key that is not a known field is ignored.
//!
//! Order keys: the standard columns and the custom fields, `ASC`/`DESC` in any case (anything
//! else is `ASC`), unknown keys ignored, then `ID` so pages are stable. A custom field sorts by
//! its first value, as its filter compares; contacts without a value come first in ascending
//! and last in descending order (MySQL's NULL placement), the same on both stores. Texts sort
//! byte by byte (code point order) on both stores.

use b24lite_core::Params;
use b24lite_core::params::{
    as_php_int, as_php_string, is_php_array, lookup, php_array_entries, php_array_values,
};
use b24lite_store::contacts::{self, Condition, Op, OrderKey, Target, Test, ValueKind};
use b24lite_store::userfields::{Bind, FieldDef};
use chrono::FixedOffset;
use serde_json::Value;

use super::shape::Select;
use super::{field_defs, render_all, values};
use crate::methods::userfield::normalize::is_yes;
use crate::rest::CallContext;
use crate::rest::MethodResult;
use crate::rest::auth::internal;
use crate::rest::paging::{PAGE_SIZE, Page};

/// Standard keys and their columns.
const COLUMNS: [(&str, &str); 14] = [
    ("ID", "id"),
    ("NAME", "name"),
    ("LAST_NAME", "last_name"),
    ("SECOND_NAME", "second_name"),
    ("TYPE_ID", "type_id"),
    ("SOURCE_ID", "source_id"),
    ("ASSIGNED_BY_ID", "assigned_by_id"),
    ("COMMENTS", "comments"),
    ("OPENED", "opened"),
    ("EXPORT", "export"),
    ("CREATED_BY_ID", "created_by_id"),
    ("MODIFY_BY_ID", "modify_by_id"),
    ("DATE_CREATE", "date_create"),
    ("DATE_MODIFY", "date_modify"),
];

/// What a key's prefix asks: a comparison or list membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Compare(Op),
    In,
}

/// Prefixes, longest first, with whether they negate.
const PREFIXES: [(&str, Ask, bool); 13] = [
    (">=", Ask::Compare(Op::Ge), false),
    ("<=", Ask::Compare(Op::Le), false),
    ("!=", Ask::Compare(Op::Eq), true),
    ("!@", Ask::In, true),
    ("!%", Ask::Compare(Op::Like), true),
    ("=%", Ask::Compare(Op::Like), false),
    ("%=", Ask::Compare(Op::Like), false),
    (">", Ask::Compare(Op::Gt), false),
    ("<", Ask::Compare(Op::Lt), false),
    ("@", Ask::In, false),
    ("!", Ask::Compare(Op::Eq), true),
    ("=", Ask::Compare(Op::Eq), false),
    ("%", Ask::Compare(Op::Like), false),
];

fn column(key: &str) -> Option<&'static str> {
    COLUMNS.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
}

pub async fn list(ctx: CallContext, params: Params) -> MethodResult {
    let select: Vec<String> = lookup(&params, "select")
        .map(php_array_values)
        .unwrap_or_default()
        .into_iter()
        .filter_map(as_php_string)
        .collect();
    let select = Select::from_list(&select);
    let page = Page::from_params(&params);
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let fields = field_defs(&mut conn).await?;
    let offset = ctx.state.config.utc_offset;
    let conditions = match lookup(&params, "filter") {
        Some(filter) => conditions(filter, &fields, offset),
        None => Vec::new(),
    };
    let order = order(lookup(&params, "order"), &fields);
    let (rows, total) = contacts::list_contacts(
        &mut conn,
        &conditions,
        &order,
        page.offset,
        PAGE_SIZE,
        page.count_total,
    )
    .await
    .map_err(internal)?;
    let rendered = render_all(&ctx, &mut conn, &fields, &rows, &select).await?;
    Ok(page.output(rendered, total))
}

fn split_key(raw: &str) -> (Ask, bool, String) {
    for (prefix, ask, negated) in PREFIXES {
        if let Some(rest) = raw.strip_prefix(prefix) {
            return (ask, negated, rest.to_ascii_uppercase());
        }
    }
    (Ask::Compare(Op::Eq), false, raw.to_ascii_uppercase())
}

/// How a custom field's stored texts compare and sort.
fn kind(field: &FieldDef) -> ValueKind {
    match field.user_type_id.as_str() {
        "integer" | "datetime" | "boolean" | "enumeration" | "employee" | "file"
        | "iblock_section" | "iblock_element" => ValueKind::Integer,
        "double" => ValueKind::Real,
        _ => ValueKind::Text,
    }
}

/// A filter value converted for one target: `Ok(None)` for an empty value, `Err` for one the
/// target's type cannot read.
type Converter<'a> = Box<dyn Fn(&Value) -> Result<Option<Bind>, ()> + 'a>;

fn conditions(filter: &Value, fields: &[FieldDef], offset: FixedOffset) -> Vec<Condition> {
    let mut out = Vec::new();
    for (raw_key, value) in php_array_entries(filter) {
        let (ask, negated, key) = split_key(&raw_key);
        let (target, convert): (Target, Converter<'_>) = if let Some(column) = column(&key) {
            (
                Target::Column(column),
                Box::new(move |v| standard(column, v, offset)),
            )
        } else if let Some(field) = fields.iter().find(|f| f.field_name == key) {
            if field.user_type_id == "boolean" && ask != Ask::Compare(Op::Like) {
                out.extend(boolean(field, ask, negated, value, offset));
                continue;
            }
            let kind = kind(field);
            (
                Target::Field { id: field.id, kind },
                Box::new(move |v| custom(field, kind, v, offset)),
            )
        } else {
            continue;
        };
        if let Some((test, inverted)) = test(ask, value, &convert) {
            out.push(Condition {
                target,
                test,
                negated: negated != inverted,
            });
        }
    }
    out
}

/// The test a prefix and value ask for, and whether it asks for the test's opposite (an empty
/// value asks for "no value": not [`Test::Present`]). `None` for a condition that is ignored.
fn test(ask: Ask, value: &Value, convert: &Converter<'_>) -> Option<(Test, bool)> {
    let list = match (is_php_array(value), ask) {
        (true, _) => Some(php_array_values(value)),
        (false, Ask::In) => Some(vec![value]),
        (false, Ask::Compare(_)) => None,
    };
    let test = match (ask, list) {
        (Ask::In | Ask::Compare(Op::Eq), Some(list)) => {
            let binds = list
                .into_iter()
                .filter_map(|v| convert(v).ok().flatten())
                .collect();
            Test::In(binds)
        }
        (_, Some(_)) => return None,
        (Ask::Compare(Op::Like), None) => {
            let text = as_php_string(value)?.trim().to_lowercase();
            Test::Compare(Op::Like, Bind::Text(text))
        }
        (Ask::Compare(op), None) => match convert(value) {
            Ok(Some(bind)) => Test::Compare(op, bind),
            Ok(None) if op == Op::Eq => return Some((Test::Present, true)),
            Ok(None) => return None,
            Err(()) => Test::In(Vec::new()),
        },
        (Ask::In, None) => return None,
    };
    Some((test, false))
}

fn is_empty(value: &Value) -> bool {
    as_php_string(value).is_some_and(|s| s.trim().is_empty())
}

fn standard(column: &str, value: &Value, offset: FixedOffset) -> Result<Option<Bind>, ()> {
    let text = as_php_string(value).ok_or(())?;
    if is_empty(value) {
        return Ok(None);
    }
    Ok(Some(match column {
        "id" | "assigned_by_id" | "created_by_id" | "modify_by_id" => Bind::Int(as_php_int(value)),
        "opened" | "export" => Bind::Int(i64::from(is_yes(value))),
        "date_create" | "date_modify" => {
            Bind::Int(values::parse_datetime(text.trim(), offset).ok_or(())?)
        }
        _ => Bind::Text(text),
    }))
}

fn custom(
    field: &FieldDef,
    kind: ValueKind,
    value: &Value,
    offset: FixedOffset,
) -> Result<Option<Bind>, ()> {
    let Some(stored) = values::filter_text(field, value, offset).map_err(|_| ())? else {
        return Ok(None);
    };
    Ok(Some(match kind {
        ValueKind::Integer => Bind::Int(stored.parse().map_err(|_| ())?),
        ValueKind::Real => Bind::Real(stored.parse().map_err(|_| ())?),
        ValueKind::Text => Bind::Text(stored),
    }))
}

/// A condition on a boolean field, where no value counts as `0`: it becomes "has a `1`" or
/// its negation.
fn boolean(
    field: &FieldDef,
    ask: Ask,
    negated: bool,
    value: &Value,
    offset: FixedOffset,
) -> Option<Condition> {
    let list = match (is_php_array(value), ask) {
        (true, Ask::In | Ask::Compare(Op::Eq)) => php_array_values(value),
        (true, _) => return None,
        (false, _) => vec![value],
    };
    let wanted: Vec<bool> = list
        .into_iter()
        .filter_map(|v| values::filter_text(field, v, offset).ok().flatten())
        .map(|stored| stored == "1")
        .collect();
    let (yes, no) = (wanted.contains(&true), wanted.contains(&false));
    let one = Test::Compare(Op::Eq, Bind::Int(1));
    let (test, negated) = match ask {
        Ask::Compare(Op::Eq) | Ask::In => match (yes, no) {
            (true, true) => (Test::In(Vec::new()), !negated),
            (true, false) => (one, negated),
            (false, true) => (one, !negated),
            (false, false) => (Test::In(Vec::new()), negated),
        },
        // Ranges compare the stored values (contacts without one never match).
        Ask::Compare(op) => {
            let bound = Bind::Int(i64::from(*wanted.first()?));
            (Test::Compare(op, bound), negated)
        }
    };
    Some(Condition {
        target: Target::Field {
            id: field.id,
            kind: ValueKind::Integer,
        },
        test,
        negated,
    })
}

fn order(order: Option<&Value>, fields: &[FieldDef]) -> Vec<OrderKey> {
    order
        .map(php_array_entries)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, direction)| {
            let key = key.trim().to_ascii_uppercase();
            let target = match column(&key) {
                Some(column) => Target::Column(column),
                None => {
                    let field = fields.iter().find(|f| f.field_name == key)?;
                    Target::Field {
                        id: field.id,
                        kind: kind(field),
                    }
                }
            };
            let ascending =
                !as_php_string(direction).is_some_and(|d| d.trim().eq_ignore_ascii_case("DESC"));
            Some(OrderKey { target, ascending })
        })
        .collect()
}
