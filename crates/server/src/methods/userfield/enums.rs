//! The `LIST` of an enumeration field: the item set on add and the change list on update
//! (reference facts 35-40, decisions 14 and 17).
//!
//! - Add: items with an empty VALUE are skipped; SORT is kept when numeric and > 0, else 500;
//!   XML_ID is kept when given, else md5(VALUE) in lowercase hex; a single-value field keeps
//!   only the first `DEF=Y`.
//! - Update: an item with an `ID` of this field is deleted by `DEL=Y` or by an empty VALUE, else
//!   rewritten with the keys it brings (an omitted XML_ID becomes md5(VALUE), fact 39); an `ID`
//!   of no item of this field is ignored; items without `ID` are appended as on add. On a
//!   single-value field, when a listed item says `DEF=Y`, the first such item becomes the
//!   default and the other listed items are not; items the LIST does not mention keep their
//!   DEF, so the field can end with two defaults, as on Bitrix24 (fact 40).
//! - A duplicate XML_ID in the resulting set refuses the whole call with `ERROR_CORE`
//!   "List item with XML_ID='<value>' already exists" (decision 13).

use std::collections::HashSet;

use b24lite_core::RestError;
use b24lite_core::params::{as_php_int, as_php_string, php_array_values};
use b24lite_store::userfields::EnumItem;
use md5::{Digest, Md5};
use serde_json::Value;

use super::normalize::{core_error, fit_column, is_yes};

/// Schema default of an item's SORT (decision 14).
pub const DEFAULT_SORT: i64 = 500;

/// What an update does to the stored items.
#[derive(Debug, Default)]
pub struct Plan {
    pub deletes: Vec<i64>,
    pub updates: Vec<EnumItem>,
    pub inserts: Vec<EnumItem>,
}

pub fn duplicate_error(xml_id: &str) -> RestError {
    core_error(format!("List item with XML_ID='{xml_id}' already exists"))
}

fn md5_hex(value: &str) -> String {
    hex::encode(Md5::digest(value.as_bytes()))
}

/// A trimmed item property, cut to its database column.
fn text(item: &Value, key: &str) -> Option<String> {
    item.get(key)
        .and_then(as_php_string)
        .map(|s| fit_column(s.trim().to_string()))
}

fn positive_sort(item: &Value) -> Option<i64> {
    let raw = item.get("SORT")?;
    let numeric = match raw {
        Value::Number(_) => true,
        Value::String(s) => s.trim().parse::<f64>().is_ok(),
        _ => false,
    };
    Some(as_php_int(raw)).filter(|n| numeric && *n > 0)
}

fn new_item(item: &Value, field_id: i64) -> Option<EnumItem> {
    let value = text(item, "VALUE").filter(|v| !v.is_empty())?;
    let xml_id = text(item, "XML_ID")
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| md5_hex(&value));
    Some(EnumItem {
        id: 0,
        field_id,
        sort: positive_sort(item).unwrap_or(DEFAULT_SORT),
        def: item.get("DEF").is_some_and(is_yes),
        xml_id,
        value,
    })
}

/// The items of a new field.
pub fn plan_add(list: Option<&Value>, multiple: bool) -> Result<Vec<EnumItem>, RestError> {
    let mut items: Vec<EnumItem> = list
        .map(php_array_values)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|item| new_item(item, 0))
        .collect();
    if !multiple {
        single_default(items.iter_mut());
    }
    check_unique(items.iter())?;
    Ok(items)
}

/// Leaves only the first default among `items`.
fn single_default<'a>(items: impl Iterator<Item = &'a mut EnumItem>) {
    let mut seen = false;
    for item in items {
        item.def = item.def && !seen;
        seen |= item.def;
    }
}

fn check_unique<'a>(items: impl Iterator<Item = &'a EnumItem>) -> Result<(), RestError> {
    let mut seen = HashSet::new();
    for item in items {
        if !seen.insert(item.xml_id.as_str()) {
            return Err(duplicate_error(&item.xml_id));
        }
    }
    Ok(())
}

/// The changes an update's `LIST` makes to `existing` (the field's stored items).
pub fn plan_update(
    existing: &[EnumItem],
    list: &Value,
    multiple: bool,
    field_id: i64,
) -> Result<Plan, RestError> {
    let mut plan = Plan::default();
    let mut current: Vec<EnumItem> = existing.to_vec();
    let mut default_claimed = None;
    let mut listed = Vec::new();
    for item in php_array_values(list) {
        let id = item.get("ID").map(as_php_int).unwrap_or(0);
        let wants_default = item.get("DEF").is_some_and(is_yes);
        if id <= 0 {
            if let Some(new) = new_item(item, field_id) {
                default_claimed =
                    default_claimed.or(wants_default.then_some(Target::New(plan.inserts.len())));
                plan.inserts.push(new);
            }
            continue;
        }
        let Some(slot) = current.iter_mut().find(|c| c.id == id) else {
            continue;
        };
        let value = text(item, "VALUE").unwrap_or_default();
        if item.get("DEL").is_some_and(is_yes) || value.is_empty() {
            plan.deletes.push(id);
            continue;
        }
        rewrite(slot, item, value);
        listed.push(id);
        default_claimed = default_claimed.or(wants_default.then_some(Target::Existing(id)));
    }
    current.retain(|c| !plan.deletes.contains(&c.id));
    if !multiple && let Some(target) = default_claimed {
        // Fact 40: only the items this LIST mentions are reset.
        for item in current.iter_mut().filter(|c| listed.contains(&c.id)) {
            item.def = target == Target::Existing(item.id);
        }
        for (i, item) in plan.inserts.iter_mut().enumerate() {
            item.def = target == Target::New(i);
        }
    }
    check_unique(current.iter().chain(plan.inserts.iter()))?;
    plan.updates = current
        .into_iter()
        .filter(|c| !existing.contains(c))
        .collect();
    Ok(plan)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Existing(i64),
    New(usize),
}

fn rewrite(slot: &mut EnumItem, item: &Value, value: String) {
    if let Some(sort) = positive_sort(item) {
        slot.sort = sort;
    }
    if let Some(def) = item.get("DEF") {
        slot.def = is_yes(def);
    }
    slot.xml_id = text(item, "XML_ID")
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| md5_hex(&value));
    slot.value = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_skips_empty_values_and_keeps_one_default() {
        let list = json!([{"VALUE": "a", "DEF": "Y"}, {"VALUE": "b", "DEF": "Y"}, {"VALUE": ""}]);
        let items = plan_add(Some(&list), false).unwrap();
        assert_eq!(items.len(), 2);
        assert!(items[0].def && !items[1].def);
        assert_eq!(items[0].xml_id, "0cc175b9c0f1b6a831c399e269772661");
        assert_eq!(items[0].sort, 500);
    }

    fn stored(id: i64, value: &str, def: bool) -> EnumItem {
        EnumItem {
            id,
            field_id: 9,
            value: value.into(),
            sort: 500,
            def,
            xml_id: format!("x{id}"),
        }
    }

    #[test]
    fn update_is_a_change_list() {
        let existing = vec![
            stored(1, "a", true),
            stored(2, "b", false),
            stored(3, "c", false),
        ];
        let list = json!([
            {"ID": 1, "DEL": "Y"},
            {"ID": "2", "VALUE": "b2", "DEF": "Y", "XML_ID": "B"},
            {"VALUE": "d", "DEF": "Y"},
            {"ID": 77, "VALUE": "ignored"},
        ]);
        let plan = plan_update(&existing, &list, false, 9).unwrap();
        assert_eq!(plan.deletes, vec![1]);
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(
            (
                plan.updates[0].id,
                plan.updates[0].def,
                plan.updates[0].xml_id.as_str()
            ),
            (2, true, "B")
        );
        assert_eq!(
            (plan.inserts.len(), plan.inserts[0].def),
            (1, false),
            "one default on a single field"
        );
        // Fact 40: an unlisted default keeps its DEF next to the new one.
        let plan = plan_update(&existing, &json!([{"VALUE": "d", "DEF": "Y"}]), false, 9).unwrap();
        assert!(plan.updates.is_empty() && plan.inserts[0].def);
        let clash = json!([{"VALUE": "e", "XML_ID": "x3"}]);
        assert_eq!(
            plan_update(&existing, &clash, true, 9).unwrap_err(),
            duplicate_error("x3")
        );
    }

    #[test]
    fn duplicate_xml_ids_are_refused() {
        let list = json!([{"VALUE": "a", "XML_ID": "X"}, {"VALUE": "b", "XML_ID": "X"}]);
        assert_eq!(
            plan_add(Some(&list), true).unwrap_err(),
            duplicate_error("X")
        );
    }
}
