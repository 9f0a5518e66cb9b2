//! `crm.contact.add/get/update/delete/fields` and, in [`list`], `crm.contact.list`: contacts
//! with their standard fields, PHONE/EMAIL and the values of the contact custom fields.
//!
//! Choices where the specs are open:
//! - Contacts are readable and writable by every user with the `crm` scope (b24lite has no CRM
//!   roles). Each write is one transaction.
//! - Not found is `""` / "Not found" (400), as the CRM entity proxies answer.
//! - `MANDATORY` (decision 20): `crm.contact.add` without a value, or `update` sending an empty
//!   one, fails with `""` / `The "<label>" field is required.` (label: EDIT_FORM_LABEL in `en`
//!   or the first portal language, else the field name); no default values are filled in.
//! - Invalid values: a value its field's type cannot convert ([`values`]) fails the call with
//!   `""` / `The value of the "<label>" field is not a valid date.` (the end names what the type
//!   wanted). As Bitrix24's user-field CheckFields step collects a message per field and the
//!   CRM entity refuses the whole change with them, every field is checked first and all
//!   messages (invalid and required alike, in field SORT order) are joined with `\n`; nothing is
//!   written (decision 21).
//! - PHONE/EMAIL on update: an entry with `ID` changes that entry (an empty VALUE deletes it),
//!   one without is appended; VALUE_TYPE defaults to `WORK`.
//! - No contact events are recorded (issue 3 covers only the field events).

mod files;
mod list;
mod shape;
pub mod values;

use std::collections::HashMap;

use b24lite_core::params::{as_php_int, as_php_string, is_php_array, lookup, php_array_values};
use b24lite_core::{Params, RestError};
use b24lite_store::contacts::{self, Contact};
use b24lite_store::userfields::{self, EnumItem, FieldDef};
use b24lite_store::{AnyConnection, Tx};
use serde_json::{Map, Value, json};

use crate::method;
use crate::methods::userfield::ENTITY;
use crate::methods::userfield::normalize::{is_no, is_yes};
use crate::rest::auth::internal;
use crate::rest::{CallContext, MethodOutput, MethodResult, Registry};
use shape::{Parts, Select};

pub fn register(registry: &mut Registry) {
    registry.add(method!("crm.contact.add", "crm", add));
    registry.add(method!("crm.contact.get", "crm", get));
    registry.add(method!("crm.contact.list", "crm", list::list));
    registry.add(method!("crm.contact.update", "crm", update));
    registry.add(method!("crm.contact.delete", "crm", delete));
    registry.add(method!("crm.contact.fields", "crm", fields));
}

fn not_found() -> RestError {
    RestError::crm("Not found")
}

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

fn fields_param(params: &Params) -> Result<Map<String, Value>, RestError> {
    match lookup(params, "fields") {
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(value) if is_php_array(value) => Ok(Map::new()),
        _ => Err(RestError::crm("Parameter 'fields' must be array.")),
    }
}

/// The contact custom fields and their items.
async fn custom_fields(
    conn: &mut AnyConnection,
) -> Result<(Vec<FieldDef>, Vec<EnumItem>), RestError> {
    let fields = field_defs(conn).await?;
    let ids: Vec<i64> = fields.iter().map(|f| f.id).collect();
    let items = userfields::list_items(conn, &ids).await.map_err(internal)?;
    Ok((fields, items))
}

/// The contact custom fields in SORT order, without their list items (what reads and filters
/// need; writes check values against the items too, see [`custom_fields`]).
async fn field_defs(conn: &mut AnyConnection) -> Result<Vec<FieldDef>, RestError> {
    userfields::list_fields(conn, ENTITY, &[], &[("sort", true)])
        .await
        .map_err(internal)
}

/// Copies the standard keys present in `input` onto `contact`.
fn apply_standard(contact: &mut Contact, input: &Map<String, Value>) {
    let text = |key: &str| input.get(key).and_then(as_php_string);
    let targets: [(&str, &mut String); 6] = [
        ("NAME", &mut contact.name),
        ("LAST_NAME", &mut contact.last_name),
        ("SECOND_NAME", &mut contact.second_name),
        ("TYPE_ID", &mut contact.type_id),
        ("SOURCE_ID", &mut contact.source_id),
        ("COMMENTS", &mut contact.comments),
    ];
    for (key, slot) in targets {
        if let Some(value) = text(key) {
            *slot = value.trim().to_string();
        }
    }
    if let Some(id) = input
        .get("ASSIGNED_BY_ID")
        .map(as_php_int)
        .filter(|id| *id > 0)
    {
        contact.assigned_by_id = id;
    }
    if let Some(value) = input.get("OPENED") {
        contact.opened = is_yes(value) || !is_no(value) && as_php_int(value) != 0;
    }
    if let Some(value) = input.get("EXPORT") {
        contact.export = is_yes(value) || !is_no(value) && as_php_int(value) != 0;
    }
}

/// A custom field's new values, checked but not yet written.
enum Pending {
    Texts(Vec<String>),
    Files(Vec<files::FileValue>),
}

impl Pending {
    fn is_empty(&self) -> bool {
        match self {
            Pending::Texts(texts) => texts.is_empty(),
            Pending::Files(files) => files.is_empty(),
        }
    }
}

/// The new values of every custom field present in `input`, or every message against them:
/// values their type cannot convert, and MANDATORY fields left empty (checked for every field
/// when `require_all` (add), else for the fields sent).
fn custom_values(
    ctx: &CallContext,
    input: &Map<String, Value>,
    fields: &[FieldDef],
    items: &[EnumItem],
    require_all: bool,
) -> Result<Vec<(i64, Pending)>, RestError> {
    let offset = ctx.state.config.utc_offset;
    let languages = &ctx.state.config.languages;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for field in fields {
        let Some(given) = input.get(&field.field_name) else {
            if field.mandatory && require_all {
                errors.push(required(field, languages));
            }
            continue;
        };
        let pending = if field.user_type_id == "file" {
            files::parse(field, given).map(Pending::Files)
        } else {
            values::to_stored(field, items, given, offset).map(Pending::Texts)
        };
        match pending {
            Err(invalid) => errors.push(format!(
                "The value of the \"{}\" field {}.",
                label(field, languages),
                invalid.describe()
            )),
            Ok(pending) if field.mandatory && pending.is_empty() => {
                errors.push(required(field, languages));
            }
            Ok(pending) => out.push((field.id, pending)),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(RestError::crm(errors.join("\n")))
    }
}

/// How messages name a field: its EDIT_FORM_LABEL in `en` (or the first portal language), else
/// its FIELD_NAME, as Bitrix24's user-field messages do.
fn label<'a>(field: &'a FieldDef, languages: &[String]) -> &'a str {
    let lang = languages.iter().find(|l| *l == "en").or(languages.first());
    lang.and_then(|l| field.labels.get("EDIT_FORM_LABEL")?.get(l)?.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(&field.field_name)
}

fn required(field: &FieldDef, languages: &[String]) -> String {
    format!("The \"{}\" field is required.", label(field, languages))
}

/// PHONE/EMAIL changes: appends entries without ID, changes or deletes those with one.
async fn write_multi(
    tx: &mut Tx,
    contact_id: i64,
    input: &Map<String, Value>,
) -> Result<(), RestError> {
    for kind in ["PHONE", "EMAIL"] {
        let Some(list) = input.get(kind) else {
            continue;
        };
        let mut appended = Vec::new();
        for entry in php_array_values(list) {
            let value = entry
                .get("VALUE")
                .and_then(as_php_string)
                .unwrap_or_default()
                .trim()
                .to_string();
            let value_type = entry
                .get("VALUE_TYPE")
                .and_then(as_php_string)
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| "WORK".into())
                .trim()
                .to_ascii_uppercase();
            let id = entry.get("ID").map_or(0, as_php_int);
            if id > 0 {
                let change = (!value.is_empty()).then_some((value_type.as_str(), value.as_str()));
                contacts::change_multi(tx, contact_id, id, change)
                    .await
                    .map_err(internal)?;
            } else if !value.is_empty() {
                appended.push((value_type, value));
            }
        }
        contacts::add_multi(tx, contact_id, kind, &appended)
            .await
            .map_err(internal)?;
    }
    Ok(())
}

async fn write_values(
    tx: &mut Tx,
    contact_id: i64,
    values: &[(i64, Pending)],
    now: i64,
) -> Result<(), RestError> {
    for (field_id, pending) in values {
        let stored = match pending {
            Pending::Texts(texts) => texts.clone(),
            Pending::Files(list) => files::store(tx, list, now).await?,
        };
        contacts::set_values(tx, contact_id, *field_id, &stored)
            .await
            .map_err(internal)?;
    }
    Ok(())
}

async fn add(ctx: CallContext, params: Params) -> MethodResult {
    let input = fields_param(&params)?;
    let now = ctx.state.clock.now();
    let user = ctx.caller.user.id;
    let mut contact = Contact {
        assigned_by_id: user,
        created_by_id: user,
        modify_by_id: user,
        opened: true,
        export: true,
        date_create: now,
        date_modify: now,
        ..Contact::default()
    };
    apply_standard(&mut contact, &input);
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    let (fields, items) = custom_fields(&mut tx).await?;
    let values = custom_values(&ctx, &input, &fields, &items, true)?;
    let id = contacts::insert_contact(&mut tx, &contact)
        .await
        .map_err(internal)?;
    write_multi(&mut tx, id, &input).await?;
    write_values(&mut tx, id, &values, now).await?;
    tx.commit().await.map_err(internal)?;
    Ok(MethodOutput::new(json!(id)))
}

async fn update(ctx: CallContext, params: Params) -> MethodResult {
    let id = read_id(&params)?;
    let input = fields_param(&params)?;
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    let mut contact = contacts::get_contact(&mut tx, id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    apply_standard(&mut contact, &input);
    contact.modify_by_id = ctx.caller.user.id;
    contact.date_modify = ctx.state.clock.now();
    let (fields, items) = custom_fields(&mut tx).await?;
    let values = custom_values(&ctx, &input, &fields, &items, false)?;
    contacts::update_contact(&mut tx, &contact)
        .await
        .map_err(internal)?;
    write_multi(&mut tx, id, &input).await?;
    write_values(&mut tx, id, &values, contact.date_modify).await?;
    tx.commit().await.map_err(internal)?;
    Ok(MethodOutput::new(true))
}

async fn delete(ctx: CallContext, params: Params) -> MethodResult {
    let id = read_id(&params)?;
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    contacts::get_contact(&mut tx, id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    contacts::delete_contact(&mut tx, id)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(MethodOutput::new(true))
}

async fn get(ctx: CallContext, params: Params) -> MethodResult {
    let id = read_id(&params)?;
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let contact = contacts::get_contact(&mut conn, id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let fields = field_defs(&mut conn).await?;
    let everything = Select::everything();
    let rows = render_all(&ctx, &mut conn, &fields, &[contact], &everything).await?;
    Ok(MethodOutput::new(
        rows.into_iter().next().unwrap_or_default(),
    ))
}

/// Renders contacts with what `select` asks for, loading multi-fields and values in bulk.
async fn render_all(
    ctx: &CallContext,
    conn: &mut AnyConnection,
    fields: &[FieldDef],
    rows: &[Contact],
    select: &Select,
) -> Result<Vec<Value>, RestError> {
    let ids: Vec<i64> = rows.iter().map(|c| c.id).collect();
    let multi = contacts::list_multi(conn, &ids).await.map_err(internal)?;
    let mut values: HashMap<(i64, i64), Vec<String>> = HashMap::new();
    for value in contacts::list_values(conn, &ids).await.map_err(internal)? {
        values
            .entry((value.contact_id, value.field_id))
            .or_default()
            .push(value.value);
    }
    let parts = Parts {
        fields,
        multi: &multi,
        values: &values,
        offset: ctx.state.config.utc_offset,
        file_secret: &ctx.state.portal.file_secret,
    };
    Ok(rows
        .iter()
        .map(|c| shape::render(c, &parts, select))
        .collect())
}

async fn fields(ctx: CallContext, _params: Params) -> MethodResult {
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let (fields, items) = custom_fields(&mut conn).await?;
    Ok(MethodOutput::new(shape::descriptor(
        &fields,
        &items,
        &ctx.state.config.languages,
    )))
}
