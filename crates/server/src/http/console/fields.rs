//! Contact custom fields: the list, one field's page, and forms to add, change and delete.
//!
//! Every read and write is a call of `crm.contact.userfield.list/get/add/update/delete` through
//! [`rest_call`]; the forms only turn their fields into that method's parameters. A refused
//! write comes back as a flash message holding the method's `error_description`. The label of
//! the forms is Bitrix24's `LABEL` shortcut: on add it fills every label in every language; on
//! update the console sends it as the three visible labels (`EDIT_FORM_LABEL`,
//! `LIST_COLUMN_LABEL`, `LIST_FILTER_LABEL`) in every language.

use axum::extract::State;
use axum::response::IntoResponse;
use b24lite_core::params::as_php_string;
use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::form::{Form, lines};
use super::layout::{self, Flash};
use super::session::Session;
use super::{Console, Failure, Id, Page, rest_call, text_of};
use crate::methods::userfield::normalize::LABEL_KEYS;
use crate::methods::userfield::settings::TYPES;

/// The labels the console's label field sets on update.
const VISIBLE_LABELS: [&str; 3] = ["EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL"];

/// `GET /console/fields`: every contact field, labels in the portal's language, and the add form.
pub async fn list(State(console): State<Console>, session: Session) -> Page {
    let lang = console.app.language().to_string();
    let params = json!({"filter": {"LANG": lang}});
    let rows = rest_call(&console.app, "crm.contact.userfield.list", params)
        .await?
        .map_err(Failure::Rest)?;
    let rows = rows.as_array().cloned().unwrap_or_default();
    let flash = console.sessions.take_flash(&session);
    let body = html! {
        @if rows.is_empty() {
            p.muted { "No contact custom fields yet." }
        } @else {
            table #fields {
                tr {
                    th { "ID" } th { "FIELD_NAME" } th { "USER_TYPE_ID" } th { "MULTIPLE" }
                    th { "MANDATORY" } th { "Label (" (lang) ")" }
                }
                @for row in &rows {
                    @let id = text_of(row, "ID");
                    tr {
                        td { a href={ "/console/fields/" (id) } { (id) } }
                        td { a href={ "/console/fields/" (id) } { (text_of(row, "FIELD_NAME")) } }
                        td { (text_of(row, "USER_TYPE_ID")) }
                        td { (text_of(row, "MULTIPLE")) }
                        td { (text_of(row, "MANDATORY")) }
                        td { (text_of(row, "EDIT_FORM_LABEL")) }
                    }
                }
            }
        }
        h2 { "Add a field" }
        (add_form(&session))
    };
    Ok(layout::page("Contact custom fields", &session, flash, body).into_response())
}

fn add_form(session: &Session) -> Markup {
    html! {
        form.box method="post" action="/console/fields" {
            (layout::csrf(session))
            label { "FIELD_NAME " input type="text" name="field_name" placeholder="COLOR" required;
                span.muted { " (UF_CRM_ is added in front)" } }
            label { "Type "
                select name="user_type_id" {
                    @for (id, title) in TYPES {
                        option value=(id) { (id) " (" (title) ")" }
                    }
                }
            }
            label { "Label " input type="text" name="label" size="40"; }
            label { input type="checkbox" name="multiple" value="Y"; " MULTIPLE" }
            label { input type="checkbox" name="mandatory" value="Y"; " MANDATORY" }
            label { "List values (enumeration only, one per line)" br;
                textarea name="list" {} }
            button type="submit" { "Add field" }
        }
    }
}

/// `POST /console/fields`: `crm.contact.userfield.add`.
pub async fn add(State(console): State<Console>, session: Session, form: Form) -> Page {
    let user_type_id = form.required("user_type_id")?;
    let mut fields = Map::new();
    fields.insert("FIELD_NAME".into(), json!(form.required("field_name")?));
    fields.insert("USER_TYPE_ID".into(), json!(user_type_id));
    if let Some(label) = form.get("label").filter(|l| !l.trim().is_empty()) {
        fields.insert("LABEL".into(), json!(label));
    }
    fields.insert("MULTIPLE".into(), json!(flag(form.checked("multiple"))));
    fields.insert("MANDATORY".into(), json!(flag(form.checked("mandatory"))));
    if user_type_id == "enumeration" {
        let values = lines(&form.get("list").unwrap_or_default());
        let items: Vec<Value> = values.iter().map(|v| json!({"VALUE": v})).collect();
        fields.insert("LIST".into(), Value::Array(items));
    }
    let params = json!({"fields": fields});
    let answer = rest_call(&console.app, "crm.contact.userfield.add", params).await?;
    Ok(match answer {
        Ok(id) => {
            let id = as_php_string(&id).unwrap_or_default();
            let flash = Flash::ok(format!("Field {id} added."));
            console.done(&session, &format!("/console/fields/{id}"), flash)
        }
        Err(error) => console.done(&session, "/console/fields", Flash::error(error.description)),
    })
}

fn flag(on: bool) -> &'static str {
    if on { "Y" } else { "N" }
}

/// `GET /console/fields/{id}`: one field as `crm.contact.userfield.get` returns it, with forms.
pub async fn show(State(console): State<Console>, session: Session, Id(id): Id) -> Page {
    let field = rest_call(&console.app, "crm.contact.userfield.get", json!({"id": id}))
        .await?
        .map_err(Failure::Rest)?;
    let flash = console.sessions.take_flash(&session);
    let name = text_of(&field, "FIELD_NAME");
    let lang = console.app.language();
    let label = field["EDIT_FORM_LABEL"][lang].as_str().unwrap_or_default();
    let is_enumeration = text_of(&field, "USER_TYPE_ID") == "enumeration";
    let settings = serde_json::to_string_pretty(&field["SETTINGS"]).unwrap_or_default();
    let delete = format!("/console/fields/{id}/delete");
    let body = html! {
        (summary(&field))
        h2 { "SETTINGS" }
        pre { (settings) }
        h2 { "Labels" }
        (labels(&field, &console.app.config.languages))
        @if is_enumeration {
            h2 { "List values" }
            (list_form(&session, id, &field["LIST"]))
        }
        h2 { "Change" }
        form.box method="post" action={ "/console/fields/" (id) "/update" } {
            (layout::csrf(&session))
            label {
                "Label (every language) "
                input type="text" name="label" value=(label) size="40";
            }
            label {
                "SORT " input type="text" name="sort" value=(text_of(&field, "SORT")) size="6";
            }
            label {
                input type="checkbox" name="mandatory" value="Y"
                    checked[text_of(&field, "MANDATORY") == "Y"];
                " MANDATORY"
            }
            button type="submit" { "Save" }
        }
        h2 { "Delete" }
        p.muted { "Deleting removes the field and its values on every contact." }
        (layout::button(&session, &delete, &format!("Delete {name}"), true))
    };
    Ok(layout::page(&name, &session, flash, body).into_response())
}

fn summary(field: &Value) -> Markup {
    let keys = [
        "ID",
        "ENTITY_ID",
        "FIELD_NAME",
        "USER_TYPE_ID",
        "USER_TYPE_OWNER",
        "XML_ID",
        "SORT",
        "MULTIPLE",
        "MANDATORY",
        "SHOW_FILTER",
        "SHOW_IN_LIST",
        "EDIT_IN_LIST",
        "IS_SEARCHABLE",
    ];
    html! {
        table #field {
            @for key in keys {
                @if field.get(key).is_some() {
                    tr { th { (key) } td { (text_of(field, key)) } }
                }
            }
        }
    }
}

fn labels(field: &Value, languages: &[String]) -> Markup {
    html! {
        table #labels {
            tr { th { "Language" } @for key in LABEL_KEYS { th { (key) } } }
            @for lang in languages {
                tr {
                    td { (lang) }
                    @for key in LABEL_KEYS {
                        td { (field[key][lang.as_str()].as_str().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// The items of an enumeration, editable in place, plus new values to append.
fn list_form(session: &Session, id: i64, items: &Value) -> Markup {
    let items = items.as_array().cloned().unwrap_or_default();
    html! {
        form.box method="post" action={ "/console/fields/" (id) "/list" } {
            (layout::csrf(session))
            table #items {
                tr { th { "ID" } th { "VALUE" } th { "SORT" } th { "DEF" } th { "Delete" } }
                @for item in &items {
                    @let item_id = text_of(item, "ID");
                    tr {
                        td { (item_id) }
                        td { input type="text" name={ "item[" (item_id) "][VALUE]" }
                            value=(text_of(item, "VALUE")); }
                        td { input type="text" name={ "item[" (item_id) "][SORT]" }
                            value=(text_of(item, "SORT")) size="5"; }
                        td { input type="checkbox" name={ "item[" (item_id) "][DEF]" } value="Y"
                            checked[text_of(item, "DEF") == "Y"]; }
                        td { input type="checkbox" name={ "item[" (item_id) "][DEL]" } value="Y"; }
                    }
                }
            }
            label { "New values (one per line)" br; textarea name="new" {} }
            button type="submit" { "Save list" }
        }
    }
}

/// `POST /console/fields/{id}/update`: `crm.contact.userfield.update` with label, SORT and
/// MANDATORY (UPDATE is fired).
pub async fn update(
    State(console): State<Console>,
    session: Session,
    Id(id): Id,
    form: Form,
) -> Page {
    let mut fields = Map::new();
    let label = form.required("label")?;
    if !label.trim().is_empty() {
        for key in VISIBLE_LABELS {
            fields.insert(key.into(), json!(label));
        }
    }
    // The REST method reads a bad SORT as PHP would (keeping the old one); a form says so.
    let sort = form.required("sort")?;
    if !sort.trim().parse::<i64>().is_ok_and(|n| n > 0) {
        let back = format!("/console/fields/{id}");
        let text = format!("SORT must be a positive whole number, not '{sort}'.");
        return Ok(console.done(&session, &back, Flash::error(text)));
    }
    fields.insert("SORT".into(), json!(sort.trim()));
    fields.insert("MANDATORY".into(), json!(flag(form.checked("mandatory"))));
    let params = json!({"id": id, "fields": fields});
    finish_update(&console, &session, id, params, "Field saved.").await
}

/// `POST /console/fields/{id}/list`: `crm.contact.userfield.update` with a `LIST` built from
/// the item rows (changed, deleted) and the new values (UPDATE, then SETENUMVALUES).
pub async fn update_list(
    State(console): State<Console>,
    session: Session,
    Id(id): Id,
    form: Form,
) -> Page {
    let mut list = Vec::new();
    for (item_id, item) in form.entries("item") {
        let text = |key: &str| item.get(key).and_then(as_php_string);
        let checked = |key: &str| text(key).is_some_and(|v| v != "N");
        list.push(json!({
            "ID": item_id,
            "VALUE": text("VALUE").unwrap_or_default(),
            "SORT": text("SORT").unwrap_or_default(),
            "DEF": flag(checked("DEF")),
            "DEL": flag(checked("DEL")),
        }));
    }
    for value in lines(&form.get("new").unwrap_or_default()) {
        list.push(json!({"VALUE": value}));
    }
    let params = json!({"id": id, "fields": {"LIST": list}});
    finish_update(&console, &session, id, params, "List values saved.").await
}

async fn finish_update(
    console: &Console,
    session: &Session,
    id: i64,
    params: Value,
    done: &str,
) -> Page {
    let answer = rest_call(&console.app, "crm.contact.userfield.update", params).await?;
    let back = format!("/console/fields/{id}");
    Ok(match answer {
        Ok(_) => console.done(session, &back, Flash::ok(done)),
        // A field that is gone has no page to go back to.
        Err(error) if error.code == "ERROR_NOT_FOUND" => {
            console.done(session, "/console/fields", Flash::error(error.description))
        }
        Err(error) => console.done(session, &back, Flash::error(error.description)),
    })
}

/// `POST /console/fields/{id}/delete`: `crm.contact.userfield.delete` (DELETE is fired).
pub async fn delete(State(console): State<Console>, session: Session, Id(id): Id) -> Page {
    let answer = rest_call(
        &console.app,
        "crm.contact.userfield.delete",
        json!({"id": id}),
    )
    .await?;
    let flash = match answer {
        Ok(_) => Flash::ok(format!("Field {id} deleted.")),
        Err(error) => Flash::error(error.description),
    };
    Ok(console.done(&session, "/console/fields", flash))
}
