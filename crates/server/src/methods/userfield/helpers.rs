//! `crm.userfield.types`, `crm.userfield.fields`, `crm.userfield.settings.fields`,
//! `crm.userfield.enumeration.fields` (reference facts 56-59, `userfields.md` §4.6-4.9).
//! Any caller with the `crm` scope may use them. Titles are the English set.
//!
//! `settings.fields` with an unknown type answers `[]` (fact 58). `types` appends the types the
//! calling application registered (`userfieldtype.add`), by the code the application gave
//! them, as `get` shows them.

use b24lite_core::params::{as_php_string, lookup};
use b24lite_core::{Params, RestError};
use serde_json::{Map, Value, json};

use super::settings;
use crate::method;
use crate::rest::auth::internal;
use crate::rest::{CallContext, Credential, MethodOutput, MethodResult, Registry};
use b24lite_store::field_types;

pub fn register(registry: &mut Registry) {
    registry.add(method!("crm.userfield.types", "crm", types));
    registry.add(method!("crm.userfield.fields", "crm", fields));
    registry.add(method!(
        "crm.userfield.settings.fields",
        "crm",
        settings_fields
    ));
    registry.add(method!(
        "crm.userfield.enumeration.fields",
        "crm",
        enumeration_fields
    ));
}

async fn types(ctx: CallContext, _params: Params) -> MethodResult {
    let mut list: Vec<Value> = settings::TYPES
        .iter()
        .map(|(id, title)| json!({"ID": id, "title": title}))
        .collect();
    if let Credential::App { app_id, .. } = &ctx.caller.credential {
        let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
        let own = field_types::list_for_app(&mut conn, *app_id)
            .await
            .map_err(internal)?;
        list.extend(own.iter().map(|t| json!({"ID": t.code, "title": t.title})));
    }
    Ok(MethodOutput::new(list))
}

/// `(key, type, title, flag)` where flag is `isReadOnly`, `isImmutable` or `isMultiple`.
const FIELD_KEYS: [(&str, &str, &str, Option<&str>); 19] = [
    ("ID", "int", "ID", Some("isReadOnly")),
    ("ENTITY_ID", "string", "Object", Some("isImmutable")),
    ("FIELD_NAME", "string", "Code", Some("isImmutable")),
    ("USER_TYPE_ID", "string", "Data Type", Some("isImmutable")),
    ("XML_ID", "string", "External ID (XML ID)", None),
    ("SORT", "int", "Sorting", None),
    ("MULTIPLE", "char", "Multiple", None),
    ("MANDATORY", "char", "Mandatory", None),
    ("SHOW_FILTER", "char", "Show in list filter", None),
    ("SHOW_IN_LIST", "char", "Show in list", None),
    ("EDIT_IN_LIST", "char", "Allow user editing", None),
    ("IS_SEARCHABLE", "char", "Field values are searchable", None),
    ("EDIT_FORM_LABEL", "string", "Label in edit form", None),
    ("LIST_COLUMN_LABEL", "string", "Header in list", None),
    ("LIST_FILTER_LABEL", "string", "Filter label in list", None),
    ("ERROR_MESSAGE", "string", "Error message", None),
    ("HELP_MESSAGE", "string", "Help", None),
    (
        "LIST",
        "uf_enum_element",
        "List elements",
        Some("isMultiple"),
    ),
    (
        "SETTINGS",
        "object",
        "Additional settings (dependent on type)",
        None,
    ),
];

async fn fields(_ctx: CallContext, _params: Params) -> MethodResult {
    let map: Map<String, Value> = FIELD_KEYS
        .iter()
        .map(|(key, kind, title, flag)| {
            let mut entry = json!({"type": kind, "title": title});
            if let Some(flag) = flag {
                entry[*flag] = json!(true);
            }
            (key.to_string(), entry)
        })
        .collect();
    Ok(MethodOutput::new(Value::Object(map)))
}

async fn settings_fields(_ctx: CallContext, params: Params) -> MethodResult {
    let user_type = lookup(&params, "type")
        .and_then(as_php_string)
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if user_type.is_empty() {
        return Err(RestError::crm(
            "Parameter 'type' is not specified or empty.",
        ));
    }
    Ok(MethodOutput::new(settings::descriptor(&user_type)))
}

async fn enumeration_fields(_ctx: CallContext, _params: Params) -> MethodResult {
    Ok(MethodOutput::new(json!({
        "ID": {"type": "int", "title": "ID", "isReadOnly": true},
        "SORT": {"type": "int", "title": "Sorting"},
        "VALUE": {"type": "string", "title": "Value"},
        "DEF": {"type": "string", "title": "Default Value"},
        "DEL": {"type": "string", "title": "Element Deletion Flag"},
    })))
}
