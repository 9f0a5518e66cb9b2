//! What contacts look like on the wire: `crm.contact.fields` and the records of
//! `crm.contact.get/list` (`select` masks included).
//!
//! Choices where the specs are open: empty text columns read as `null` (as Bitrix24's
//! nullable columns do); ids and user ids are strings; dates in the portal's offset; PHONE and
//! EMAIL appear only when selected and non-empty (`get` selects everything). UF labels in
//! `crm.contact.fields` are in `en`, or the portal's first language without `en`.

use std::collections::HashMap;

use b24lite_store::contacts::{Contact, MultiValue};
use b24lite_store::userfields::{EnumItem, FieldDef};
use chrono::FixedOffset;
use serde_json::{Map, Value, json};

use super::values;
use crate::rest::envelope::format_date;

/// Standard fields: `(key, type, title, read-only, multiple)`, in record order.
pub const STANDARD: [(&str, &str, &str, bool, bool); 18] = [
    ("ID", "integer", "ID", true, false),
    ("NAME", "string", "First name", false, false),
    ("SECOND_NAME", "string", "Second name", false, false),
    ("LAST_NAME", "string", "Last name", false, false),
    ("TYPE_ID", "crm_status", "Contact type", false, false),
    ("SOURCE_ID", "crm_status", "Source", false, false),
    ("COMMENTS", "string", "Comment", false, false),
    ("OPENED", "char", "Available to everyone", false, false),
    ("EXPORT", "char", "Participates in export", false, false),
    ("ASSIGNED_BY_ID", "user", "Responsible person", false, false),
    ("CREATED_BY_ID", "user", "Created by", true, false),
    ("MODIFY_BY_ID", "user", "Modified by", true, false),
    ("DATE_CREATE", "datetime", "Created on", true, false),
    ("DATE_MODIFY", "datetime", "Modified on", true, false),
    ("HAS_PHONE", "char", "Has phone", true, false),
    ("HAS_EMAIL", "char", "Has e-mail", true, false),
    ("PHONE", "crm_multifield", "Phone", false, true),
    ("EMAIL", "crm_multifield", "E-mail", false, true),
];

/// Which keys a read returns.
#[derive(Debug, Clone)]
pub struct Select {
    all_system: bool,
    all_custom: bool,
    names: Vec<String>,
}

impl Select {
    /// Everything (`get`).
    pub fn everything() -> Select {
        Select {
            all_system: true,
            all_custom: true,
            names: vec!["PHONE".into(), "EMAIL".into()],
        }
    }

    /// From a `select` list; empty means `*` and `UF_*`.
    pub fn from_list(list: &[String]) -> Select {
        if list.is_empty() {
            return Select {
                all_system: true,
                all_custom: true,
                names: Vec::new(),
            };
        }
        Select {
            all_system: list.iter().any(|s| s == "*"),
            all_custom: list.iter().any(|s| s == "UF_*"),
            names: list.iter().map(|s| s.to_ascii_uppercase()).collect(),
        }
    }

    fn wants(&self, key: &str) -> bool {
        let multi = key == "PHONE" || key == "EMAIL";
        key == "ID"
            || (self.all_system && !multi && !key.starts_with("UF_"))
            || (self.all_custom && key.starts_with("UF_"))
            || self.names.iter().any(|n| n == key)
    }
}

fn text_or_null(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}

fn yn(flag: bool) -> &'static str {
    if flag { "Y" } else { "N" }
}

/// Everything a record is built from.
pub struct Parts<'a> {
    pub fields: &'a [FieldDef],
    pub multi: &'a [MultiValue],
    pub values: &'a HashMap<(i64, i64), Vec<String>>,
    pub offset: FixedOffset,
    /// The portal's key for signing file URLs.
    pub file_secret: &'a str,
}

/// One contact as `get`/`list` return it.
pub fn render(contact: &Contact, parts: &Parts<'_>, select: &Select) -> Value {
    let offset = parts.offset;
    let mine: Vec<&MultiValue> = parts
        .multi
        .iter()
        .filter(|m| m.contact_id == contact.id)
        .collect();
    let has = |kind: &str| yn(mine.iter().any(|m| m.kind == kind));
    let standard = [
        ("ID", json!(contact.id.to_string())),
        ("NAME", text_or_null(&contact.name)),
        ("SECOND_NAME", text_or_null(&contact.second_name)),
        ("LAST_NAME", text_or_null(&contact.last_name)),
        ("TYPE_ID", text_or_null(&contact.type_id)),
        ("SOURCE_ID", text_or_null(&contact.source_id)),
        ("COMMENTS", text_or_null(&contact.comments)),
        ("OPENED", json!(yn(contact.opened))),
        ("EXPORT", json!(yn(contact.export))),
        ("ASSIGNED_BY_ID", json!(contact.assigned_by_id.to_string())),
        ("CREATED_BY_ID", json!(contact.created_by_id.to_string())),
        ("MODIFY_BY_ID", json!(contact.modify_by_id.to_string())),
        (
            "DATE_CREATE",
            json!(format_date(contact.date_create as f64, offset)),
        ),
        (
            "DATE_MODIFY",
            json!(format_date(contact.date_modify as f64, offset)),
        ),
        ("HAS_PHONE", json!(has("PHONE"))),
        ("HAS_EMAIL", json!(has("EMAIL"))),
    ];
    let mut out = Map::new();
    for (key, value) in standard {
        if select.wants(key) {
            out.insert(key.to_string(), value);
        }
    }
    for kind in ["PHONE", "EMAIL"] {
        let entries: Vec<Value> = mine
            .iter()
            .filter(|m| m.kind == kind)
            .map(|m| multi_json(m))
            .collect();
        if select.wants(kind) && !entries.is_empty() {
            out.insert(kind.to_string(), Value::Array(entries));
        }
    }
    for field in parts.fields.iter().filter(|f| select.wants(&f.field_name)) {
        let stored = parts.values.get(&(contact.id, field.id));
        let texts: Vec<&str> = stored
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        out.insert(
            field.field_name.clone(),
            values::to_json(field, contact.id, &texts, offset, parts.file_secret),
        );
    }
    Value::Object(out)
}

fn multi_json(m: &MultiValue) -> Value {
    json!({"ID": m.id.to_string(), "VALUE_TYPE": m.value_type, "VALUE": m.value, "TYPE_ID": m.kind})
}

/// `crm.contact.fields`: the standard fields, then one entry per custom field.
pub fn descriptor(fields: &[FieldDef], items: &[EnumItem], languages: &[String]) -> Value {
    let mut out = Map::new();
    for (key, kind, title, read_only, multiple) in STANDARD {
        let mut entry = json!({
            "type": kind, "isRequired": false, "isReadOnly": read_only, "isImmutable": false,
            "isMultiple": multiple, "isDynamic": false, "title": title,
        });
        if kind == "crm_status" {
            entry["statusType"] = json!(if key == "TYPE_ID" {
                "CONTACT_TYPE"
            } else {
                "SOURCE"
            });
        }
        out.insert(key.to_string(), entry);
    }
    let lang = languages.iter().find(|l| *l == "en").or(languages.first());
    for field in fields {
        out.insert(
            field.field_name.clone(),
            custom_entry(field, items, lang.map(String::as_str)),
        );
    }
    Value::Object(out)
}

fn custom_entry(field: &FieldDef, items: &[EnumItem], lang: Option<&str>) -> Value {
    let label = |key: &str| {
        lang.and_then(|l| field.labels.get(key)?.get(l).cloned())
            .unwrap_or(Value::Null)
    };
    let settings = match &field.settings {
        Value::Object(map) if !map.is_empty() => field.settings.clone(),
        _ => json!([]),
    };
    let mut entry = json!({
        "type": field.user_type_id, "isRequired": field.mandatory, "isReadOnly": false,
        "isImmutable": false, "isMultiple": field.multiple, "isDynamic": true,
        "title": field.field_name, "listLabel": label("LIST_COLUMN_LABEL"),
        "formLabel": label("EDIT_FORM_LABEL"), "filterLabel": label("LIST_FILTER_LABEL"),
        "settings": settings,
    });
    if field.user_type_id == "enumeration" {
        let list: Vec<Value> = items
            .iter()
            .filter(|i| i.field_id == field.id)
            .map(|i| json!({"ID": i.id.to_string(), "VALUE": i.value}))
            .collect();
        entry["items"] = Value::Array(list);
    }
    entry
}
