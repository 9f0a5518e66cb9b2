//! Field definitions as `get` and `list` return them (reference facts 43-48): IDs and SORT as
//! strings, flags as `Y`/`N`, `XML_ID` null when unset, empty SETTINGS as `[]`; labels as maps in
//! `get`, as strings (or null) in `list` with `LANG` and absent without; LIST items without
//! XML_ID in `get`, with it in `list`. `list` also writes a datetime field's fixed default
//! (`SETTINGS.DEFAULT_VALUE.VALUE`) as ISO 8601 in the portal's offset; `get` keeps the stored
//! `YYYY-MM-DD HH:MM:SS` (fact 48).

use b24lite_store::field_types::FieldType;
use b24lite_store::userfields::{EnumItem, FieldDef};
use chrono::{FixedOffset, NaiveDateTime, TimeZone};
use serde_json::{Map, Value, json};

use super::normalize::LABEL_KEYS;

/// Which method a record is rendered for.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    Get,
    /// `list`, with the `LANG` directive if given, and the portal's offset.
    List(Option<&'a str>, FixedOffset),
}

fn yn(flag: bool) -> &'static str {
    if flag { "Y" } else { "N" }
}

/// An application type's field shows the type by its code and names the owning application in
/// `USER_TYPE_OWNER` (fact 45). Fields of a type no longer registered stay as stored.
pub fn show_owner(row: &mut Value, types: &[FieldType]) {
    let Some(id) = row["USER_TYPE_ID"].as_str() else {
        return;
    };
    if let Some(owner) = types.iter().find(|t| t.user_type_id == id) {
        row["USER_TYPE_ID"] = json!(owner.code);
        row["USER_TYPE_OWNER"] = json!(owner.client_id);
    }
}

/// One record, keys in Bitrix24's order.
pub fn render(field: &FieldDef, items: &[EnumItem], mode: Mode<'_>) -> Value {
    let mut settings = match &field.settings {
        Value::Object(map) if !map.is_empty() => field.settings.clone(),
        _ => json!([]),
    };
    if let (Mode::List(_, offset), "datetime") = (mode, field.user_type_id.as_str()) {
        iso_default(&mut settings, offset);
    }
    let mut out = Map::new();
    let mut put = |key: &str, value: Value| {
        out.insert(key.to_string(), value);
    };
    put("ID", json!(field.id.to_string()));
    put("ENTITY_ID", json!(field.entity_id));
    put("FIELD_NAME", json!(field.field_name));
    put("USER_TYPE_ID", json!(field.user_type_id));
    put("XML_ID", json!(field.xml_id));
    put("SORT", json!(field.sort.to_string()));
    put("MULTIPLE", json!(yn(field.multiple)));
    put("MANDATORY", json!(yn(field.mandatory)));
    put("SHOW_FILTER", json!(field.show_filter));
    put("SHOW_IN_LIST", json!(yn(field.show_in_list)));
    put("EDIT_IN_LIST", json!(yn(field.edit_in_list)));
    put("IS_SEARCHABLE", json!(yn(field.is_searchable)));
    put("SETTINGS", settings);
    for key in LABEL_KEYS {
        let stored = field.labels.get(key);
        match mode {
            Mode::Get => {
                if let Some(map) = stored {
                    put(key, map.clone());
                }
            }
            Mode::List(Some(lang), _) => {
                let text = stored.and_then(|m| m.get(lang)).cloned();
                put(key, text.unwrap_or(Value::Null));
            }
            Mode::List(None, _) => {}
        }
    }
    if field.user_type_id == "enumeration" {
        let with_xml_id = matches!(mode, Mode::List(..));
        let list = items
            .iter()
            .filter(|item| item.field_id == field.id)
            .map(|item| render_item(item, with_xml_id))
            .collect();
        put("LIST", Value::Array(list));
    }
    Value::Object(out)
}

fn render_item(item: &EnumItem, with_xml_id: bool) -> Value {
    let mut out = json!({
        "ID": item.id.to_string(),
        "SORT": item.sort.to_string(),
        "VALUE": item.value,
        "DEF": yn(item.def),
    });
    if with_xml_id {
        out["XML_ID"] = json!(item.xml_id);
    }
    out
}

/// Rewrites a fixed datetime default as ISO 8601 in the portal's offset.
fn iso_default(settings: &mut Value, offset: FixedOffset) {
    let Some(value) = settings.pointer_mut("/DEFAULT_VALUE/VALUE") else {
        return;
    };
    let parsed = value
        .as_str()
        .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok())
        .and_then(|t| offset.from_local_datetime(&t).single());
    if let Some(moment) = parsed {
        *value = json!(moment.format("%Y-%m-%dT%H:%M:%S%:z").to_string());
    }
}
