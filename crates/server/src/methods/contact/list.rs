//! `crm.contact.list`: `select` masks, `filter` with Bitrix24's operator prefixes, `order`,
//! and pages of 50 chosen by `start` (`start=-1`: no count, decision 8).
//!
//! Filter keys: the standard columns and the contact custom fields, prefixed by one of `>=`,
//! `>`, `<=`, `<`, `!=`/`!`, `=`, `%` (substring, case-insensitive). Custom-field values are
//! compared in their stored form (the value is converted by the field's type first); integer,
//! double and datetime fields compare as numbers. A value that is an array, or a key that is not
//! a known field, is ignored. Order keys: the standard columns; other keys are ignored.

use b24lite_core::Params;
use b24lite_core::params::{
    as_php_int, as_php_string, lookup, php_array_entries, php_array_values,
};
use b24lite_store::contacts::{self, Condition, Op, Target};
use b24lite_store::userfields::{Bind, FieldDef};
use serde_json::Value;

use super::shape::Select;
use super::{custom_fields, render_all, values};
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

const PREFIXES: [(&str, Op); 10] = [
    (">=", Op::Ge),
    ("<=", Op::Le),
    ("!=", Op::Ne),
    ("=%", Op::Like),
    ("%=", Op::Like),
    (">", Op::Gt),
    ("<", Op::Lt),
    ("!", Op::Ne),
    ("=", Op::Eq),
    ("%", Op::Like),
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
    let (fields, items) = custom_fields(&mut conn).await?;
    let conditions = match lookup(&params, "filter") {
        Some(filter) => conditions(&ctx, filter, &fields, &items),
        None => Vec::new(),
    };
    let order = order(lookup(&params, "order"));
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
    let rendered = render_all(&ctx, &mut conn, &rows, &select).await?;
    Ok(page.output(rendered, total))
}

fn split_key(raw: &str) -> (Op, String) {
    for (prefix, op) in PREFIXES {
        if let Some(rest) = raw.strip_prefix(prefix) {
            return (op, rest.to_ascii_uppercase());
        }
    }
    (Op::Eq, raw.to_ascii_uppercase())
}

fn conditions(
    ctx: &CallContext,
    filter: &Value,
    fields: &[FieldDef],
    items: &[b24lite_store::userfields::EnumItem],
) -> Vec<Condition> {
    let offset = ctx.state.config.utc_offset;
    let mut out = Vec::new();
    for (raw_key, value) in php_array_entries(filter) {
        let (op, key) = split_key(&raw_key);
        let Some(text) = as_php_string(value) else {
            continue;
        };
        let condition = if let Some(column) = column(&key) {
            standard(column, op, value, &text, offset)
        } else if let Some(field) = fields.iter().find(|f| f.field_name == key) {
            custom(field, items, op, value, offset)
        } else {
            None
        };
        out.extend(condition);
    }
    out
}

fn standard(
    column: &'static str,
    op: Op,
    value: &Value,
    text: &str,
    offset: chrono::FixedOffset,
) -> Option<Condition> {
    let bind = match column {
        "id" | "assigned_by_id" | "created_by_id" | "modify_by_id" => Bind::Int(as_php_int(value)),
        "opened" | "export" => Bind::Int(i64::from(is_yes(value))),
        "date_create" | "date_modify" => Bind::Int(values::parse_datetime(text.trim(), offset)?),
        _ => Bind::Text(text.to_string()),
    };
    Some(Condition {
        target: Target::Column(column),
        op,
        value: bind,
    })
}

fn custom(
    field: &FieldDef,
    items: &[b24lite_store::userfields::EnumItem],
    op: Op,
    value: &Value,
    offset: chrono::FixedOffset,
) -> Option<Condition> {
    let numeric = matches!(
        field.user_type_id.as_str(),
        "integer" | "double" | "datetime"
    );
    let bind = if op == Op::Like {
        Bind::Text(as_php_string(value)?.to_lowercase())
    } else {
        let single = FieldDef {
            multiple: false,
            ..field.clone()
        };
        let stored = values::to_stored(&single, items, value, offset)
            .ok()?
            .into_iter()
            .next()?;
        if numeric {
            Bind::Real(stored.parse().ok()?)
        } else {
            Bind::Text(stored)
        }
    };
    Some(Condition {
        target: Target::Field {
            id: field.id,
            numeric,
        },
        op,
        value: bind,
    })
}

fn order(order: Option<&Value>) -> Vec<(&'static str, bool)> {
    order
        .map(php_array_entries)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, dir)| {
            let column = column(&key.to_ascii_uppercase())?;
            let asc = !as_php_string(dir).is_some_and(|d| d.trim().eq_ignore_ascii_case("DESC"));
            Some((column, asc))
        })
        .collect()
}
