//! `event.offline.get`, `.list`, `.clear`, `.error`: an application reads its offline queue
//! (`events.md` §10, reference facts 93-99, decision 32). Administrators only; applications only.
//!
//! Choices where the specs are open: record ids and `ERROR` are strings, `EVENT_ADDITIONAL` is
//! `{"user_id": "<id>"}` (`"0"` when no user made the change), and `limit` is capped at 1000. As
//! the server code does, `event.offline.error` needs `message_id` as a list (an empty list flags
//! nothing), and `get` with a `process_id` re-reads at most `limit` records of that process with
//! the requested `error` flag. Records older than about 34 days are gone, reserved or not
//! ([`offline::RETENTION_SECS`]).
//!
//! The queue is filled, and `ONOFFLINEEVENT` notices are scheduled (paced by `minTimeout`), by
//! `b24lite_store::events::record` in the transaction of the change.

use b24lite_core::params::{
    as_php_int, as_php_string, is_php_array, lookup_ci, php_array_entries, php_array_values,
};
use b24lite_core::{Params, RestError};
use b24lite_store::offline::{
    self, Column, OfflineRecord, Op, Query, Selection, Value as FilterValue,
};
use chrono::DateTime;
use serde_json::{Value, json};

use crate::rest::auth::internal;
use crate::rest::envelope::format_date;
use crate::rest::paging::{PAGE_SIZE, Page};
use crate::rest::registry::{AuthRule, MethodSpec};
use crate::rest::{CallContext, Credential, MethodOutput, MethodResult, Registry};

/// The most records one `event.offline.get` returns.
pub const MAX_LIMIT: i64 = 1000;

pub fn register(registry: &mut Registry) {
    for (name, handler) in [
        (
            "event.offline.get",
            (|ctx, params| Box::pin(get(ctx, params))) as crate::rest::registry::MethodFn,
        ),
        ("event.offline.list", |ctx, params| {
            Box::pin(list(ctx, params))
        }),
        ("event.offline.clear", |ctx, params| {
            Box::pin(clear(ctx, params))
        }),
        ("event.offline.error", |ctx, params| {
            Box::pin(error(ctx, params))
        }),
    ] {
        registry.add(MethodSpec {
            name,
            scope: "basic",
            auth: AuthRule::AppOnly,
            batchable: true,
            handler,
        });
    }
}

/// The calling application's queue, after the administrator check.
fn queue_of(ctx: &CallContext) -> Result<Query, RestError> {
    let Credential::App { app_id, .. } = ctx.caller.credential else {
        return Err(RestError::wrong_auth_type());
    };
    if !ctx.caller.is_admin() {
        return Err(RestError::access_denied("Access denied!"));
    }
    let connector = ctx.request.auth_connector.clone().unwrap_or_default();
    Ok(Query {
        app_id,
        connector,
        filter: Vec::new(),
        order: Vec::new(),
    })
}

fn column(name: &str, with_state: bool) -> Option<Column> {
    match name.to_uppercase().as_str() {
        "ID" => Some(Column::Id),
        "TIMESTAMP_X" => Some(Column::TimestampX),
        "EVENT_NAME" => Some(Column::EventName),
        "MESSAGE_ID" => Some(Column::MessageId),
        "PROCESS_ID" if with_state => Some(Column::ProcessId),
        "ERROR" if with_state => Some(Column::Error),
        _ => None,
    }
}

/// `filter` keys carry their operator in front (`>=ID`, `=EVENT_NAME`, `!ERROR`); unknown
/// fields are ignored, as the ORM query does.
fn parse_filter(params: &Params, with_state: bool) -> Vec<(Column, Op, FilterValue)> {
    const OPS: [(&str, Op); 7] = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("!=", Op::Ne),
        ("!", Op::Ne),
        ("=", Op::Eq),
        (">", Op::Gt),
        ("<", Op::Lt),
    ];
    let Some(filter) = lookup_ci(params, "filter") else {
        return Vec::new();
    };
    php_array_entries(filter)
        .into_iter()
        .filter_map(|(key, value)| {
            let (op, field) = OPS
                .iter()
                .find_map(|(prefix, op)| key.strip_prefix(prefix).map(|rest| (*op, rest)))
                .unwrap_or((Op::Eq, key.as_str()));
            let column = column(field, with_state)?;
            let value = match column {
                Column::Id | Column::Error => FilterValue::Int(as_php_int(value)),
                Column::TimestampX => FilterValue::Int(parse_time(value)?),
                _ => FilterValue::Text(as_php_string(value)?),
            };
            Some((column, op, value))
        })
        .collect()
}

/// An ISO-8601 time or Unix seconds.
fn parse_time(value: &Value) -> Option<i64> {
    let text = as_php_string(value)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|t| t.timestamp())
        .ok()
        .or_else(|| text.parse().ok())
}

fn parse_order(params: &Params, with_state: bool) -> Vec<(Column, bool)> {
    let Some(order) = lookup_ci(params, "order") else {
        return Vec::new();
    };
    php_array_entries(order)
        .into_iter()
        .filter_map(|(key, value)| {
            let ascending = as_php_string(value).is_none_or(|d| !d.eq_ignore_ascii_case("desc"));
            Some((column(&key, with_state)?, ascending))
        })
        .collect()
}

fn record_json(ctx: &CallContext, record: &OfflineRecord, with_state: bool) -> Value {
    let data: Value = serde_json::from_str(&record.event_data).unwrap_or(Value::Null);
    let mut item = json!({
        "ID": record.id.to_string(),
        "TIMESTAMP_X": format_date(record.timestamp_x as f64, ctx.state.config.utc_offset),
        "EVENT_NAME": record.event_name,
        "EVENT_DATA": data,
        "EVENT_ADDITIONAL": {"user_id": record.user_id.unwrap_or(0).to_string()},
        "MESSAGE_ID": record.message_id,
    });
    if with_state {
        item["PROCESS_ID"] = json!(record.process_id);
        item["ERROR"] = json!(if record.error { "1" } else { "0" });
    }
    item
}

/// Drops the application's records past their retention before it reads them.
async fn expire(
    ctx: &CallContext,
    conn: &mut b24lite_store::AnyConnection,
    app_id: i64,
) -> Result<(), RestError> {
    let now = ctx.state.clock.now();
    offline::expire(conn, app_id, now).await.map_err(internal)?;
    Ok(())
}

fn int_param(params: &Params, name: &str, default: i64) -> i64 {
    lookup_ci(params, name)
        .filter(|v| as_php_string(v).is_some_and(|s| !s.is_empty()))
        .map_or(default, as_php_int)
}

async fn get(ctx: CallContext, params: Params) -> MethodResult {
    let mut query = queue_of(&ctx)?;
    let limit = int_param(&params, "limit", 50);
    if limit <= 0 {
        return Err(RestError::argument(
            "LIMIT",
            "Value must be positive integer",
        ));
    }
    let clear = int_param(&params, "clear", 1) != 0;
    let want_errors = int_param(&params, "error", 0) != 0;
    let given_process = lookup_ci(&params, "process_id")
        .and_then(as_php_string)
        .filter(|p| !p.is_empty());
    query.filter = parse_filter(&params, false);
    query.order = parse_order(&params, false);

    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    expire(&ctx, &mut tx, query.app_id).await?;
    let process_id = given_process
        .clone()
        .unwrap_or_else(|| b24lite_store::random::token(32));
    let records = match &given_process {
        Some(process) => {
            let reread = offline::Reread {
                error: want_errors,
                limit: limit.min(MAX_LIMIT),
            };
            offline::of_process(&mut tx, &query, process, Some(reread)).await
        }
        None => {
            let dialect = ctx.state.store.dialect();
            offline::claim(
                &mut tx,
                dialect,
                &query,
                want_errors,
                limit.min(MAX_LIMIT),
                &process_id,
            )
            .await
        }
    }
    .map_err(internal)?;
    if clear {
        let ids = Selection::Ids(records.iter().map(|r| r.id).collect());
        offline::delete_claimed(&mut tx, query.app_id, &query.connector, &process_id, &ids)
            .await
            .map_err(internal)?;
    }
    tx.commit().await.map_err(internal)?;

    let shown_process = (!clear || given_process.is_some()).then_some(process_id);
    let events: Vec<Value> = records
        .iter()
        .map(|r| record_json(&ctx, r, false))
        .collect();
    Ok(MethodOutput::new(
        json!({"process_id": shown_process, "events": events}),
    ))
}

async fn list(ctx: CallContext, params: Params) -> MethodResult {
    let mut query = queue_of(&ctx)?;
    query.filter = parse_filter(&params, true);
    query.order = parse_order(&params, true);
    if query.order.is_empty() {
        query.order.push((Column::Id, true));
    }
    let page = Page::from_params(&params);
    // The expiry writes, so the page is read in the same transaction rather than a second one.
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    expire(&ctx, &mut tx, query.app_id).await?;
    let (records, total) = offline::list(&mut tx, &query, page.offset, PAGE_SIZE)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    let rows = records.iter().map(|r| record_json(&ctx, r, true)).collect();
    Ok(page.output(rows, total))
}

/// The message the server code gives for a bad `message_id` list.
const MESSAGE_IDS_EXPECTED: &str = "Value must be array of MESSAGE_ID values";

/// `id` (positive integers) wins over `message_id` (32-character ids); neither selects all.
fn selection(params: &Params) -> Result<Selection, RestError> {
    if let Some(ids) = lookup_ci(params, "id") {
        let wrong = || RestError::argument("id", "Value must be array of integers");
        if !is_php_array(ids) {
            return Err(wrong());
        }
        let ids: Vec<i64> = php_array_values(ids).into_iter().map(as_php_int).collect();
        if ids.iter().any(|id| *id <= 0) {
            return Err(wrong());
        }
        return Ok(Selection::Ids(ids));
    }
    let Some(message_ids) = lookup_ci(params, "message_id") else {
        return Ok(Selection::All);
    };
    let ids = message_id_list(message_ids)?;
    if ids.iter().any(|id| id.len() != 32) {
        return Err(RestError::argument("message_id", MESSAGE_IDS_EXPECTED));
    }
    Ok(Selection::MessageIds(ids))
}

/// A `message_id` parameter, which must be a list.
fn message_id_list(value: &Value) -> Result<Vec<String>, RestError> {
    if !is_php_array(value) {
        return Err(RestError::argument("message_id", MESSAGE_IDS_EXPECTED));
    }
    Ok(php_array_values(value)
        .into_iter()
        .map(|id| as_php_string(id).unwrap_or_default().trim().to_string())
        .collect())
}

fn process_param(params: &Params) -> Result<String, RestError> {
    lookup_ci(params, "process_id")
        .and_then(as_php_string)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| RestError::argument_null("PROCESS_ID"))
}

async fn clear(ctx: CallContext, params: Params) -> MethodResult {
    let query = queue_of(&ctx)?;
    let process_id = process_param(&params)?;
    let which = selection(&params)?;
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    expire(&ctx, &mut tx, query.app_id).await?;
    offline::delete_claimed(&mut tx, query.app_id, &query.connector, &process_id, &which)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(MethodOutput::new(true))
}

async fn error(ctx: CallContext, params: Params) -> MethodResult {
    let query = queue_of(&ctx)?;
    let process_id = process_param(&params)?;
    let message_ids = lookup_ci(&params, "message_id")
        .ok_or_else(|| RestError::argument("message_id", MESSAGE_IDS_EXPECTED))
        .and_then(message_id_list)?;
    if message_ids.is_empty() {
        return Ok(MethodOutput::new(true));
    }
    let which = Selection::MessageIds(message_ids);
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    // Flag first: it takes the queues' lock, and rows deleted by an expiry before it could hold
    // up a repeat that already has the lock (a deadlock). A record both flagged and expired
    // goes either way.
    offline::flag_error(&mut tx, query.app_id, &query.connector, &process_id, &which)
        .await
        .map_err(internal)?;
    expire(&ctx, &mut tx, query.app_id).await?;
    tx.commit().await.map_err(internal)?;
    Ok(MethodOutput::new(true))
}
