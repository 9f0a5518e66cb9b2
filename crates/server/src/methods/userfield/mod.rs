//! `crm.contact.userfield.add/get/list/update/delete` (`userfields.md` §4, reference part B,
//! decisions 11-22), plus the `crm.userfield.*` helpers in [`helpers`].
//!
//! Every write is one transaction: the definition, its enumeration items and its events commit
//! together or not at all (decision 21), so a rejected LIST leaves no field behind. Events are
//! recorded in the outbox inside that transaction (decision 22): add fires ADD, then
//! SETENUMVALUES for an enumeration; update fires UPDATE, then SETENUMVALUES when an enumeration
//! got a `LIST`; delete fires DELETE.
//!
//! Permissions: writes need an administrator; reads need CRM read access, which every active
//! portal user has in b24lite (there are no CRM roles). Denials are `""`/"Access denied." 400.
//!
//! Deleting a field removes its definition and items in the call; the contacts' values of the
//! field become invisible at once (reads join on the definition) and are purged by a background
//! task ([`purge`]), so the call does not grow with the number of contacts.

pub mod cache;
mod enums;
mod helpers;
pub mod normalize;
mod purge;
pub mod settings;
mod shape;

use std::sync::Arc;

use b24lite_core::events as catalogue;
use b24lite_core::params::{as_php_int, as_php_string, is_php_array, lookup, php_array_entries};
use b24lite_core::php_json::Rendered;
use b24lite_core::{Params, RestError};
use b24lite_store::events::{self, NewEvent};
use b24lite_store::field_types;
use b24lite_store::userfields::{self, Bind, EnumItem, FieldDef};
use b24lite_store::{StoreError, Tx, contacts};
use serde_json::{Map, Value, json};

use crate::method;
use crate::rest::auth::internal;
use crate::rest::{CallContext, Credential, MethodOutput, MethodResult, Registry};
use normalize::{Flag, core_error, fit_column, flag, text};
use shape::Mode;

/// The entity the contact methods manage.
pub const ENTITY: &str = "CRM_CONTACT";
/// Database limit of user fields per entity (`userfields.md` §2.3).
const MAX_FIELDS: i64 = 1016;

pub fn register(registry: &mut Registry) {
    registry.add(method!("crm.contact.userfield.add", "crm", add));
    registry.add(method!("crm.contact.userfield.get", "crm", get));
    registry.add(method!("crm.contact.userfield.list", "crm", list));
    registry.add(method!("crm.contact.userfield.update", "crm", update));
    registry.add(method!("crm.contact.userfield.delete", "crm", delete));
    helpers::register(registry);
}

fn access_denied() -> RestError {
    RestError::crm("Access denied.")
}

fn not_found(id: i64) -> RestError {
    RestError::new(
        400,
        "ERROR_NOT_FOUND",
        format!("The entity with ID '{id}' is not found."),
    )
}

/// `ID` or `id`, cast as PHP casts; `ID is not defined or invalid.` unless > 0.
fn read_id(params: &Params) -> Result<i64, RestError> {
    let id = params
        .get("ID")
        .or_else(|| params.get("id"))
        .map_or(0, as_php_int);
    if id > 0 {
        Ok(id)
    } else {
        Err(RestError::crm("ID is not defined or invalid."))
    }
}

/// A PHP-array parameter as a map; `None` when absent, an error naming it when not an array.
fn array_param(params: &Params, name: &str) -> Result<Option<Map<String, Value>>, RestError> {
    match lookup(params, name) {
        None => Ok(None),
        Some(value) if is_php_array(value) => Ok(Some(
            php_array_entries(value)
                .into_iter()
                .map(|(k, v)| (k, v.clone()))
                .collect(),
        )),
        Some(_) => Err(RestError::crm(format!("Parameter '{name}' must be array."))),
    }
}

async fn add(ctx: CallContext, params: Params) -> MethodResult {
    if !ctx.caller.is_admin() {
        return Err(access_denied());
    }
    // Fact 15: `fields` is the field set whenever it is an array (a list too); only when it
    // is absent or a scalar is the whole request read as one.
    let mut fields = match lookup(&params, "fields") {
        Some(value) if is_php_array(value) => php_array_entries(value)
            .into_iter()
            .map(|(k, v)| (k, v.clone()))
            .collect(),
        _ => params.clone(),
    };
    let custom = resolve_custom_type(&ctx, &mut fields).await?;
    let (field, items) = new_field(&fields, &ctx.state.config.languages, custom)?;
    let now = ctx.state.clock.now();
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    if userfields::count_fields(&mut tx, ENTITY)
        .await
        .map_err(internal)?
        >= MAX_FIELDS
    {
        return Err(RestError::internal());
    }
    let id = match userfields::insert_field(&mut tx, &field, now).await {
        Ok(id) => id,
        Err(StoreError::Conflict) => {
            return Err(core_error(format!(
                "The field {} for the {ENTITY} object already exists.",
                field.field_name
            )));
        }
        Err(error) => return Err(internal(error)),
    };
    for mut item in items {
        item.field_id = id;
        insert_item(&mut tx, &item).await?;
    }
    let field = FieldDef { id, ..field };
    record(&mut tx, &ctx, catalogue::CONTACT_USERFIELD_ADD, &field, now).await?;
    if field.user_type_id == "enumeration" {
        record(
            &mut tx,
            &ctx,
            catalogue::CONTACT_USERFIELD_SETENUMVALUES,
            &field,
            now,
        )
        .await?;
    }
    tx.commit().await.map_err(internal)?;
    ctx.state.fields.invalidate();
    ctx.state.wake_dispatcher();
    Ok(MethodOutput::new(json!(id)))
}

/// Rewrites an application type's `USER_TYPE_ID` to its portal-wide id: the calling
/// application's own code, or a registered `rest_{app}_{code}` of any application. `true` when
/// the type is registered; an unregistered one is left for [`new_field`] to refuse.
async fn resolve_custom_type(
    ctx: &CallContext,
    fields: &mut Map<String, Value>,
) -> Result<bool, RestError> {
    let Some(given) = text(fields.get("USER_TYPE_ID")) else {
        return Ok(false);
    };
    if settings::is_known_type(&given) {
        return Ok(false);
    }
    let mut candidates = Vec::new();
    if let Credential::App { app_id, .. } = &ctx.caller.credential {
        candidates.push(field_types::user_type_id(*app_id, &given.to_lowercase()));
    }
    if settings::is_custom_type(&given) {
        candidates.push(given);
    }
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    for candidate in candidates {
        if field_types::find(&mut conn, &candidate)
            .await
            .map_err(internal)?
            .is_some()
        {
            fields.insert("USER_TYPE_ID".into(), json!(candidate));
            return Ok(true);
        }
    }
    Ok(false)
}

/// Validates and normalises the `fields` of `add` into a definition and its items; `custom`
/// says the `USER_TYPE_ID` is a registered application type.
fn new_field(
    fields: &Map<String, Value>,
    languages: &[String],
    custom: bool,
) -> Result<(FieldDef, Vec<EnumItem>), RestError> {
    let user_type_id = text(fields.get("USER_TYPE_ID"));
    let raw_name = text(fields.get("FIELD_NAME"));
    let (Some(user_type_id), Some(raw_name)) = (user_type_id.clone(), raw_name.clone()) else {
        let mut missing = Vec::new();
        if user_type_id.is_none() {
            missing.push("The 'USER_TYPE_ID' field is not found.");
        }
        if raw_name.is_none() {
            missing.push("The 'FIELD_NAME' field is not found.");
        }
        return Err(RestError::crm(missing.join("\n")));
    };
    let field_name = normalize::prefixed_name(&raw_name);
    let mut errors = normalize::name_errors(&field_name);
    if !settings::is_known_type(&user_type_id) && !custom {
        errors.push("Invalid user type specified.".to_string());
    }
    if !errors.is_empty() {
        return Err(core_error(errors.join("\n")));
    }
    let multiple = user_type_id != "boolean" && flag(fields, "MULTIPLE", Flag::YesAnyCase, false);
    let items = if user_type_id == "enumeration" {
        enums::plan_add(fields.get("LIST"), multiple)?
    } else {
        Vec::new()
    };
    let default_label = text(fields.get("LABEL")).map_or_else(|| field_name.clone(), fit_column);
    let field = FieldDef {
        id: 0,
        entity_id: ENTITY.to_string(),
        xml_id: text(fields.get("XML_ID")).map(fit_column),
        sort: normalize::sort(fields.get("SORT"), 100),
        multiple,
        mandatory: flag(fields, "MANDATORY", Flag::YesAnyCase, false),
        show_filter: fields
            .get("SHOW_FILTER")
            .map_or("N".into(), |v| normalize::show_filter(v, &user_type_id)),
        // Fact 30: only a literal `N` / `Y` moves these off their defaults.
        show_in_list: flag(fields, "SHOW_IN_LIST", Flag::UnlessLiteralNo, true),
        edit_in_list: flag(fields, "EDIT_IN_LIST", Flag::UnlessLiteralNo, true),
        is_searchable: flag(fields, "IS_SEARCHABLE", Flag::LiteralYes, false),
        settings: settings::for_add(&user_type_id, fields.get("SETTINGS")),
        labels: normalize::labels_for_add(fields, &default_label, languages),
        field_name,
        user_type_id,
    };
    Ok((field, items))
}

async fn insert_item(tx: &mut Tx, item: &EnumItem) -> Result<(), RestError> {
    match userfields::insert_item(tx, item).await {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict) => Err(enums::duplicate_error(&item.xml_id)),
        Err(error) => Err(internal(error)),
    }
}

/// Records one field event in the outbox of the caller's transaction, naming the user behind the
/// change (none for the console).
async fn record(
    tx: &mut Tx,
    ctx: &CallContext,
    name: &str,
    field: &FieldDef,
    now: i64,
) -> Result<(), RestError> {
    let app_id = match &ctx.caller.credential {
        Credential::App { app_id, .. } => Some(*app_id),
        Credential::Webhook { .. } | Credential::Console { .. } => None,
    };
    let event = NewEvent {
        name: name.to_string(),
        data: json!({"FIELDS": {"ID": field.id, "ENTITY_ID": field.entity_id, "FIELD_NAME": field.field_name}}),
        user_id: ctx.caller.event_user_id(),
        request_id: ctx.request.request_id.clone(),
        auth_connector: ctx.request.auth_connector.clone(),
        app_id,
        event_ttl: ctx.caller.event_ttl,
    };
    events::record(tx, &event, now).await.map_err(internal)?;
    Ok(())
}

/// Loads a field for update/delete, locked until the transaction ends: `ERROR_NOT_FOUND`, then
/// `Access denied.` for another entity's field.
async fn load(tx: &mut Tx, id: i64) -> Result<FieldDef, RestError> {
    let field = userfields::get_field_locked(tx, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(id))?;
    if field.entity_id != ENTITY {
        return Err(access_denied());
    }
    Ok(field)
}

/// `get` is served from [`cache`] when the field was read within the last second and nothing
/// this server committed since could have changed it. The cached answer is kept encoded, so a
/// hit costs neither a store round trip nor encoding the ~3 KB of labels again.
async fn get(ctx: CallContext, params: Params) -> MethodResult {
    let id = read_id(&params)?;
    if let Some(answer) = ctx.state.fields.get(id) {
        return Ok(MethodOutput::rendered(answer));
    }
    let ticket = ctx.state.fields.ticket();
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let (field, items) = userfields::get_field_with_items(&mut conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(id))?;
    if field.entity_id != ENTITY {
        return Err(access_denied());
    }
    let mut row = shape::render(&field, &items, Mode::Get);
    if settings::is_custom_type(&field.user_type_id) {
        let types = field_types::find(&mut conn, &field.user_type_id)
            .await
            .map_err(internal)?;
        shape::show_owner(&mut row, types.as_slice());
    }
    let answer = Arc::new(Rendered::new(row));
    ctx.state.fields.put(ticket, id, answer.clone());
    Ok(MethodOutput::rendered(answer))
}

async fn list(ctx: CallContext, params: Params) -> MethodResult {
    let order = array_param(&params, "order")?.unwrap_or_default();
    let filter = array_param(&params, "filter")?.unwrap_or_default();
    // Fact 46: filter keys are upper-cased, so `Lang` is the LANG directive too.
    let lang = filter
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("LANG"))
        .and_then(|(_, value)| as_php_string(value));
    let binds = list_filter(&filter);
    let binds: Vec<(&str, Bind)> = binds.iter().map(|(c, b)| (c.as_str(), b.clone())).collect();
    let order = list_order(&order);
    let order: Vec<(&str, bool)> = order.iter().map(|(c, a)| (c.as_str(), *a)).collect();
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let fields = userfields::list_fields(&mut conn, ENTITY, &binds, &order)
        .await
        .map_err(internal)?;
    let ids: Vec<i64> = fields.iter().map(|f| f.id).collect();
    let items = userfields::list_items(&mut conn, &ids)
        .await
        .map_err(internal)?;
    let types = if fields
        .iter()
        .any(|f| settings::is_custom_type(&f.user_type_id))
    {
        field_types::list_all(&mut conn).await.map_err(internal)?
    } else {
        Vec::new()
    };
    let mode = Mode::List(lang.as_deref(), ctx.state.config.utc_offset);
    let rows: Vec<Value> = fields
        .iter()
        .map(|f| {
            let mut row = shape::render(f, &items, mode);
            shape::show_owner(&mut row, &types);
            row
        })
        .collect();
    let total = rows.len() as i64;
    Ok(MethodOutput::list(rows, Some(total), None))
}

/// Exact-match conditions of `list`: keys upper-cased, unknown keys, arrays and empty values
/// ignored (fact 46).
fn list_filter(filter: &Map<String, Value>) -> Vec<(String, Bind)> {
    let mut binds = Vec::new();
    for (key, value) in filter {
        let key = key.to_ascii_uppercase();
        let Some(raw) = as_php_string(value).filter(|s| !s.is_empty()) else {
            continue;
        };
        let bind = match key.as_str() {
            "ID" | "SORT" => Bind::Int(as_php_int(value)),
            // Exact equality (fact 46): a value other than Y/N matches no field (stored 0/1).
            "MULTIPLE" | "MANDATORY" | "SHOW_IN_LIST" | "EDIT_IN_LIST" | "IS_SEARCHABLE" => {
                match raw.trim().to_ascii_uppercase().as_str() {
                    "Y" => Bind::Int(1),
                    "N" => Bind::Int(0),
                    _ => Bind::Int(-1),
                }
            }
            "SHOW_FILTER" => Bind::Text(raw.to_ascii_uppercase()),
            "FIELD_NAME" | "USER_TYPE_ID" | "XML_ID" => Bind::Text(raw),
            _ => continue,
        };
        binds.push((key.to_ascii_lowercase(), bind));
    }
    binds
}

/// Sort keys of `list`: ASC only for `asc` in any case, anything else DESC; default SORT, ID.
fn list_order(order: &Map<String, Value>) -> Vec<(String, bool)> {
    let keys: Vec<(String, bool)> = order
        .iter()
        .filter_map(|(key, dir)| {
            let key = key.to_ascii_uppercase();
            let known = [
                "ID",
                "ENTITY_ID",
                "FIELD_NAME",
                "USER_TYPE_ID",
                "XML_ID",
                "SORT",
            ];
            let asc = as_php_string(dir).is_some_and(|d| d.trim().eq_ignore_ascii_case("ASC"));
            known
                .contains(&key.as_str())
                .then(|| (key.to_ascii_lowercase(), asc))
        })
        .collect();
    if keys.is_empty() {
        vec![("sort".into(), true), ("id".into(), true)]
    } else {
        keys
    }
}

async fn update(ctx: CallContext, params: Params) -> MethodResult {
    let fields = array_param(&params, "fields")?.unwrap_or_default();
    let id = read_id(&params)?;
    if !ctx.caller.is_admin() {
        return Err(access_denied());
    }
    let now = ctx.state.clock.now();
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    let stored = load(&mut tx, id).await?;
    let field = changed_field(&stored, &fields, &ctx.state.config.languages);
    userfields::update_field(&mut tx, &field)
        .await
        .map_err(internal)?;
    record(
        &mut tx,
        &ctx,
        catalogue::CONTACT_USERFIELD_UPDATE,
        &field,
        now,
    )
    .await?;
    let list = fields.get("LIST").filter(|v| !v.is_null());
    if let (Some(list), "enumeration") = (list, field.user_type_id.as_str()) {
        apply_list(&mut tx, &field, list).await?;
        record(
            &mut tx,
            &ctx,
            catalogue::CONTACT_USERFIELD_SETENUMVALUES,
            &field,
            now,
        )
        .await?;
    }
    tx.commit().await.map_err(internal)?;
    ctx.state.fields.invalidate();
    ctx.state.wake_dispatcher();
    Ok(MethodOutput::new(true))
}

/// The stored definition with the update's changes; FIELD_NAME, USER_TYPE_ID, ENTITY_ID and
/// MULTIPLE are kept (decision 15).
fn changed_field(stored: &FieldDef, fields: &Map<String, Value>, languages: &[String]) -> FieldDef {
    let mut field = stored.clone();
    if let Some(xml_id) = fields.get("XML_ID") {
        field.xml_id = as_php_string(xml_id)
            .map(|s| fit_column(s.trim().to_string()))
            .filter(|s| !s.is_empty());
    }
    field.sort = normalize::sort(fields.get("SORT"), stored.sort);
    // Fact 51: update reads MANDATORY stricter than add, a lower-case `y` is no.
    field.mandatory = flag(fields, "MANDATORY", Flag::LiteralYes, stored.mandatory);
    if let Some(value) = fields.get("SHOW_FILTER") {
        field.show_filter = normalize::show_filter(value, &stored.user_type_id);
    }
    field.show_in_list = flag(
        fields,
        "SHOW_IN_LIST",
        Flag::UnlessLiteralNo,
        stored.show_in_list,
    );
    field.edit_in_list = flag(
        fields,
        "EDIT_IN_LIST",
        Flag::UnlessLiteralNo,
        stored.edit_in_list,
    );
    field.is_searchable = flag(
        fields,
        "IS_SEARCHABLE",
        Flag::LiteralYes,
        stored.is_searchable,
    );
    field.settings = settings::for_update(
        &stored.user_type_id,
        &stored.settings,
        fields.get("SETTINGS"),
    );
    field.labels = normalize::labels_for_update(&stored.labels, fields, languages);
    field
}

/// Applies an update's LIST; deleted items are cleared from every contact holding them.
async fn apply_list(tx: &mut Tx, field: &FieldDef, list: &Value) -> Result<(), RestError> {
    let existing = userfields::list_items(tx, &[field.id])
        .await
        .map_err(internal)?;
    let plan = enums::plan_update(&existing, list, field.multiple, field.id)?;
    for id in &plan.deletes {
        userfields::delete_item(tx, *id).await.map_err(internal)?;
        contacts::clear_value(tx, field.id, &id.to_string())
            .await
            .map_err(internal)?;
    }
    for item in &plan.updates {
        match userfields::update_item(tx, item).await {
            Err(StoreError::Conflict) => return Err(enums::duplicate_error(&item.xml_id)),
            other => other.map_err(internal)?,
        }
    }
    for item in &plan.inserts {
        insert_item(tx, item).await?;
    }
    Ok(())
}

async fn delete(ctx: CallContext, params: Params) -> MethodResult {
    let id = read_id(&params)?;
    if !ctx.caller.is_admin() {
        return Err(access_denied());
    }
    let now = ctx.state.clock.now();
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    let field = load(&mut tx, id).await?;
    userfields::delete_field(&mut tx, id)
        .await
        .map_err(|error| {
            tracing::error!(%error, "field delete failed");
            RestError::crm(format!(
                "Error deleting {} for object {}",
                field.field_name, field.entity_id
            ))
        })?;
    record(
        &mut tx,
        &ctx,
        catalogue::CONTACT_USERFIELD_DELETE,
        &field,
        now,
    )
    .await?;
    tx.commit().await.map_err(internal)?;
    ctx.state.fields.invalidate();
    ctx.state.wake_dispatcher();
    purge::spawn(ctx.state.store.clone());
    Ok(MethodOutput::new(true))
}
