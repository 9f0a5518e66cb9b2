//! `crm.contact.userfield.*` and `crm.userfield.*` over real HTTP: shapes to the type of each
//! value, every rule and error of `userfields.md` / reference part B, atomicity, concurrency,
//! and the outbox events each call records.

use b24lite_store::events::{self, EventFilter};
use b24lite_store::userfields::{self, FieldDef};
use b24lite_store::{Store, StoreError};
use serde_json::{Value, json};

use crate::utils::{TestServer, decode};

/// A server whose label maps have two languages, so bodies stay readable.
pub async fn server() -> TestServer {
    TestServer::start_with(&["--languages", "en,de"]).await
}

/// Asserts a success and returns `result`; the envelope holds nothing else but `time`
/// (and `total`/`next` for lists, checked by the caller).
pub fn ok((status, body): (u16, Value)) -> Value {
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert!(
        keys.iter()
            .all(|k| ["result", "time", "total", "next"].contains(&k.as_str())),
        "{body}"
    );
    body["result"].clone()
}

/// Asserts the complete error envelope.
pub fn err(answer: (u16, Value), status: u16, code: &str, text: &str) {
    assert_eq!(
        answer,
        (status, json!({"error": code, "error_description": text}))
    );
}

/// Opens the test server's own store (the one the binary uses).
pub async fn open_store(server: &TestServer) -> Store {
    let url = server.database.url().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            server.data_dir.path().join("b24lite.db").display()
        )
    });
    Store::open(&url).await.unwrap()
}

/// `(name, data)` of every recorded event, oldest first.
async fn recorded(server: &TestServer) -> Vec<(String, Value)> {
    let store = open_store(server).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let all = EventFilter {
        limit: 1000,
        ..EventFilter::default()
    };
    let rows = events::list(&mut conn, &all).await.unwrap();
    rows.into_iter().map(|e| (e.name, e.data)).collect()
}

/// A second user with a `crm` webhook; returns the webhook URL.
pub fn plain_user(server: &TestServer) -> String {
    let id = server.cli(&["user", "add", "--name", "Bob"]);
    let url = server.cli(&["webhook", "add", "--user", id.trim(), "--scope", "crm"]);
    url.trim().to_string()
}

pub async fn call_as(server: &TestServer, url: &str, method: &str, params: Value) -> (u16, Value) {
    let response = server
        .client()
        .post(format!("{url}{method}"))
        .json(&params)
        .send()
        .await
        .unwrap();
    decode(response).await
}

pub async fn add(server: &TestServer, fields: Value) -> i64 {
    let result = ok(server
        .call("crm.contact.userfield.add", json!({"fields": fields}))
        .await);
    result
        .as_i64()
        .unwrap_or_else(|| panic!("add returns an integer: {result}"))
}

async fn get(server: &TestServer, id: i64) -> Value {
    ok(server
        .call("crm.contact.userfield.get", json!({"id": id}))
        .await)
}

fn both(text: &str) -> Value {
    json!({"en": text, "de": text})
}

#[tokio::test]
async fn add_fills_defaults_and_get_returns_typed_record() {
    let server = server().await;
    let id = add(
        &server,
        json!({"FIELD_NAME": "hello_world", "USER_TYPE_ID": "string", "LABEL": "X"}),
    )
    .await;
    assert_eq!(
        get(&server, id).await,
        json!({
            "ID": id.to_string(), "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": "UF_CRM_HELLO_WORLD",
            "USER_TYPE_ID": "string", "XML_ID": null, "SORT": "100", "MULTIPLE": "N",
            "MANDATORY": "N", "SHOW_FILTER": "N", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "Y",
            "IS_SEARCHABLE": "N",
            "SETTINGS": {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0,
                         "DEFAULT_VALUE": ""},
            "EDIT_FORM_LABEL": both("X"), "LIST_COLUMN_LABEL": both("X"),
            "LIST_FILTER_LABEL": both("X"), "ERROR_MESSAGE": both("X"), "HELP_MESSAGE": both("X"),
        })
    );
    // Without LABEL the labels default to the full field name; fields may sit at the top level.
    let (status, body) = server
        .call(
            "crm.contact.userfield.add",
            json!({"FIELD_NAME": "uf_top", "USER_TYPE_ID": "employee"}),
        )
        .await;
    assert_eq!(status, 200);
    let field = get(&server, body["result"].as_i64().unwrap()).await;
    assert_eq!(field["FIELD_NAME"], "UF_CRM_TOP");
    assert_eq!(field["EDIT_FORM_LABEL"], both("UF_CRM_TOP"));
    assert_eq!(field["SETTINGS"], json!([]));
}

#[tokio::test]
async fn field_name_rules_and_add_errors() {
    let server = server().await;
    let name = |raw: &str| json!({"FIELD_NAME": raw, "USER_TYPE_ID": "string"});
    let id = add(&server, name(&"A".repeat(43))).await;
    assert_eq!(
        get(&server, id).await["FIELD_NAME"],
        format!("UF_CRM_{}", "A".repeat(43))
    );
    let id = add(&server, name("UF_CRM_KEEP")).await;
    assert_eq!(get(&server, id).await["FIELD_NAME"], "UF_CRM_KEEP");
    let call = |fields: Value| server.call("crm.contact.userfield.add", json!({"fields": fields}));
    err(
        call(name(&"A".repeat(44))).await,
        400,
        "ERROR_CORE",
        "Field name is too long (more than 50 characters).",
    );
    err(
        call(name("my-field")).await,
        400,
        "ERROR_CORE",
        "Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _.",
    );
    err(
        call(json!({})).await,
        400,
        "",
        "The 'USER_TYPE_ID' field is not found.\nThe 'FIELD_NAME' field is not found.",
    );
    err(
        call(json!({"USER_TYPE_ID": "string", "FIELD_NAME": "  "})).await,
        400,
        "",
        "The 'FIELD_NAME' field is not found.",
    );
    err(
        call(json!({"FIELD_NAME": "X"})).await,
        400,
        "",
        "The 'USER_TYPE_ID' field is not found.",
    );
    err(
        call(json!({"FIELD_NAME": "X", "USER_TYPE_ID": "String"})).await,
        400,
        "ERROR_CORE",
        "Invalid user type specified.",
    );
    err(
        call(name("keep")).await,
        400,
        "ERROR_CORE",
        "The field UF_CRM_KEEP for the CRM_CONTACT object already exists.",
    );
    let list = server.call("crm.contact.userfield.list", json!({})).await;
    assert_eq!(list.1["total"], 2, "failed adds store nothing");
}

#[tokio::test]
async fn flags_are_coerced_and_show_filter_stored_as_mode() {
    let server = server().await;
    let id = add(
        &server,
        json!({
            "FIELD_NAME": "F1", "USER_TYPE_ID": "string", "MULTIPLE": true, "MANDATORY": "y",
            "SHOW_FILTER": "Y", "SHOW_IN_LIST": "n", "EDIT_IN_LIST": false, "IS_SEARCHABLE": "y",
            "SORT": 0, "XML_ID": "ext",
        }),
    )
    .await;
    let field = get(&server, id).await;
    let flags: Vec<&Value> = [
        "MULTIPLE",
        "MANDATORY",
        "SHOW_FILTER",
        "SHOW_IN_LIST",
        "EDIT_IN_LIST",
        "IS_SEARCHABLE",
        "SORT",
        "XML_ID",
    ]
    .iter()
    .map(|k| &field[*k])
    .collect();
    // Fact 30: lower-case `n`/`y` do not move SHOW_IN_LIST/IS_SEARCHABLE off their defaults.
    assert_eq!(
        json!(flags),
        json!(["Y", "Y", "E", "Y", "N", "N", "100", "ext"])
    );
    let id = add(
        &server,
        json!({"FIELD_NAME": "F2", "USER_TYPE_ID": "employee", "SHOW_FILTER": true, "SORT": "250"}),
    )
    .await;
    let field = get(&server, id).await;
    assert_eq!(
        (&field["SHOW_FILTER"], &field["SORT"]),
        (&json!("I"), &json!("250"))
    );
    let id = add(
        &server,
        json!({"FIELD_NAME": "F3", "USER_TYPE_ID": "boolean", "MULTIPLE": "Y", "SHOW_FILTER": "x"}),
    )
    .await;
    let field = get(&server, id).await;
    assert_eq!(
        (&field["MULTIPLE"], &field["SHOW_FILTER"]),
        (&json!("N"), &json!("N"))
    );
    assert_eq!(
        field["SETTINGS"],
        json!({"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX", "LABEL": ["", ""], "LABEL_CHECKBOX": ""})
    );
}

/// A string field's `get` record with the given flags, labels `UF_CRM_<name>` in both languages.
fn string_record(id: i64, name: &str, flags: [&str; 6], settings: Value) -> Value {
    let label = both(&format!("UF_CRM_{name}"));
    json!({
        "ID": id.to_string(), "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": format!("UF_CRM_{name}"),
        "USER_TYPE_ID": "string", "XML_ID": null, "SORT": "100", "MULTIPLE": flags[0],
        "MANDATORY": flags[1], "SHOW_FILTER": flags[2], "SHOW_IN_LIST": flags[3],
        "EDIT_IN_LIST": flags[4], "IS_SEARCHABLE": flags[5], "SETTINGS": settings,
        "EDIT_FORM_LABEL": label, "LIST_COLUMN_LABEL": label, "LIST_FILTER_LABEL": label,
        "ERROR_MESSAGE": label, "HELP_MESSAGE": label,
    })
}

fn string_settings(size: i64, rows: i64, default: &str) -> Value {
    json!({"SIZE": size, "ROWS": rows, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0,
           "DEFAULT_VALUE": default})
}

/// Facts 30 and 51: add upper-cases MULTIPLE/MANDATORY, update takes MANDATORY only as a
/// literal `Y`; SHOW_IN_LIST/EDIT_IN_LIST fall only to a literal `N`, IS_SEARCHABLE rises only
/// on a literal `Y`; SHOW_FILTER is `E` for a yes in any case and `N` for anything else, the
/// mode letters included.
#[tokio::test]
async fn flag_coercion_follows_the_server_code_on_add_and_update() {
    let server = server().await;
    let id = add(
        &server,
        json!({
            "FIELD_NAME": "FL", "USER_TYPE_ID": "string", "MULTIPLE": "y", "MANDATORY": "y",
            "SHOW_FILTER": "E", "SHOW_IN_LIST": "n", "EDIT_IN_LIST": "N", "IS_SEARCHABLE": "y",
        }),
    )
    .await;
    assert_eq!(
        get(&server, id).await,
        string_record(
            id,
            "FL",
            ["Y", "Y", "N", "Y", "N", "N"],
            string_settings(20, 1, "")
        )
    );
    let update = json!({"id": id, "fields": {
        "MANDATORY": "y", "SHOW_FILTER": "y", "SHOW_IN_LIST": "N", "EDIT_IN_LIST": "x",
        "IS_SEARCHABLE": "Y",
    }});
    assert_eq!(
        ok(server.call("crm.contact.userfield.update", update).await),
        json!(true)
    );
    assert_eq!(
        get(&server, id).await,
        string_record(
            id,
            "FL",
            ["Y", "N", "E", "N", "Y", "Y"],
            string_settings(20, 1, "")
        )
    );
    let update =
        json!({"id": id, "fields": {"SHOW_FILTER": "S", "IS_SEARCHABLE": "y", "MANDATORY": "Y"}});
    ok(server.call("crm.contact.userfield.update", update).await);
    assert_eq!(
        get(&server, id).await,
        string_record(
            id,
            "FL",
            ["Y", "Y", "N", "N", "Y", "N"],
            string_settings(20, 1, "")
        )
    );
}

/// Fact 52: update merges only the settings the REST pass copies for the type; others sent
/// (a string's SIZE and REGEXP, a url's POPUP, a datetime's USE_SECOND) are ignored.
#[tokio::test]
async fn update_changes_only_the_updatable_settings() {
    let server = server().await;
    let id = add(
        &server,
        json!({"FIELD_NAME": "S", "USER_TYPE_ID": "string", "SETTINGS": {"SIZE": 30}}),
    )
    .await;
    let update = json!({"id": id, "fields": {"SETTINGS": {"SIZE": 60, "ROWS": 3, "REGEXP": "x", "DEFAULT_VALUE": "d"}}});
    ok(server.call("crm.contact.userfield.update", update).await);
    assert_eq!(
        get(&server, id).await,
        string_record(
            id,
            "S",
            ["N", "N", "N", "Y", "Y", "N"],
            string_settings(30, 3, "d")
        )
    );
    let url = add(&server, json!({"FIELD_NAME": "U", "USER_TYPE_ID": "url"})).await;
    let update = json!({"id": url, "fields": {"SETTINGS": {"POPUP": "N", "ROWS": 5}}});
    ok(server.call("crm.contact.userfield.update", update).await);
    assert_eq!(
        get(&server, url).await["SETTINGS"],
        json!({"POPUP": "Y", "SIZE": 20, "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": "", "ROWS": 1})
    );
    let dt = add(
        &server,
        json!({"FIELD_NAME": "T", "USER_TYPE_ID": "datetime"}),
    )
    .await;
    let fixed = json!({"TYPE": "NOW"});
    let update =
        json!({"id": dt, "fields": {"SETTINGS": {"USE_SECOND": "N", "DEFAULT_VALUE": fixed}}});
    ok(server.call("crm.contact.userfield.update", update).await);
    assert_eq!(
        get(&server, dt).await["SETTINGS"],
        json!({"DEFAULT_VALUE": {"TYPE": "NOW", "VALUE": ""}, "USE_SECOND": "Y", "USE_TIMEZONE": "N"})
    );
}

/// Fact 15: a `fields` that is an array, even a list, is the field set; the top level is read
/// only when `fields` is absent or a scalar.
#[tokio::test]
async fn add_reads_the_top_level_only_without_a_fields_array() {
    let server = server().await;
    err(
        server
            .call(
                "crm.contact.userfield.add",
                json!({"fields": [], "FIELD_NAME": "X", "USER_TYPE_ID": "string"}),
            )
            .await,
        400,
        "",
        "The 'USER_TYPE_ID' field is not found.\nThe 'FIELD_NAME' field is not found.",
    );
    let (status, body) = server
        .call(
            "crm.contact.userfield.add",
            json!({"fields": "x", "FIELD_NAME": "X", "USER_TYPE_ID": "string"}),
        )
        .await;
    assert_eq!((status, body["result"].is_i64()), (200, true), "{body}");
}

#[tokio::test]
async fn labels_fall_back_on_add_and_are_overwritten_on_update() {
    let server = server().await;
    let id = add(
        &server,
        json!({
            "FIELD_NAME": "L", "USER_TYPE_ID": "string", "LABEL": " Field ",
            "EDIT_FORM_LABEL": {"en": "Edit", "ru": "dropped"}, "LIST_FILTER_LABEL": "Filter",
        }),
    )
    .await;
    let field = get(&server, id).await;
    assert_eq!(
        field["EDIT_FORM_LABEL"],
        json!({"en": "Edit", "de": "Field"})
    );
    assert_eq!(field["LIST_FILTER_LABEL"], both("Filter"));
    assert_eq!(field["HELP_MESSAGE"], both("Field"));
    let fields =
        json!({"LIST_COLUMN_LABEL": {"en": "E"}, "HELP_MESSAGE": "", "ERROR_MESSAGE": "Err"});
    assert_eq!(
        ok(server
            .call(
                "crm.contact.userfield.update",
                json!({"id": id, "fields": fields})
            )
            .await),
        json!(true)
    );
    let field = get(&server, id).await;
    assert_eq!(field["LIST_COLUMN_LABEL"], json!({"en": "E", "de": ""}));
    assert_eq!(field["HELP_MESSAGE"], both(""));
    assert_eq!(field["ERROR_MESSAGE"], both("Err"));
    assert_eq!(
        field["EDIT_FORM_LABEL"],
        json!({"en": "Edit", "de": "Field"}),
        "labels not sent are kept"
    );
}

#[tokio::test]
async fn settings_per_type_and_merge_on_update() {
    let server = server().await;
    let id = add(&server, json!({"FIELD_NAME": "D", "USER_TYPE_ID": "double", "SETTINGS": {"DEFAULT_VALUE": "1.5", "BOGUS": 1}})).await;
    assert_eq!(
        get(&server, id).await["SETTINGS"],
        json!({"PRECISION": 2, "SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": 1.5})
    );
    let update = json!({"id": id, "fields": {"SETTINGS": {"PRECISION": -3}, "FIELD_NAME": "X", "USER_TYPE_ID": "string", "MULTIPLE": "Y"}});
    ok(server.call("crm.contact.userfield.update", update).await);
    let field = get(&server, id).await;
    assert_eq!(
        field["SETTINGS"],
        json!({"PRECISION": 2, "SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": 1.5})
    );
    assert_eq!(
        (
            &field["FIELD_NAME"],
            &field["USER_TYPE_ID"],
            &field["MULTIPLE"]
        ),
        (&json!("UF_CRM_D"), &json!("double"), &json!("N"))
    );
    let id = add(&server, json!({"FIELD_NAME": "S", "USER_TYPE_ID": "string", "SETTINGS": {"ROWS": 0, "DEFAULT_VALUE": "d"}})).await;
    ok(server
        .call(
            "crm.contact.userfield.update",
            json!({"id": id, "fields": {"SETTINGS": {"ROWS": 70}}}),
        )
        .await);
    assert_eq!(
        get(&server, id).await["SETTINGS"],
        json!({"SIZE": 20, "ROWS": 50, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": "d"})
    );
    let id = add(
        &server,
        json!({"FIELD_NAME": "C", "USER_TYPE_ID": "crm", "SETTINGS": {"CONTACT": "Y"}}),
    )
    .await;
    assert_eq!(
        get(&server, id).await["SETTINGS"],
        json!({"LEAD": "N", "CONTACT": "Y", "COMPANY": "N", "DEAL": "N"})
    );
    let id = add(&server, json!({"FIELD_NAME": "C2", "USER_TYPE_ID": "crm"})).await;
    assert_eq!(
        get(&server, id).await["SETTINGS"],
        json!({"LEAD": "Y", "CONTACT": "N", "COMPANY": "N", "DEAL": "N"})
    );
    let id = add(&server, json!({"FIELD_NAME": "DT", "USER_TYPE_ID": "date", "SETTINGS": {"DEFAULT_VALUE": {"TYPE": "fixed", "VALUE": "2024-08-22"}}})).await;
    assert_eq!(
        get(&server, id).await["SETTINGS"],
        json!({"DEFAULT_VALUE": {"TYPE": "FIXED", "VALUE": "2024-08-22"}})
    );
    let fixed = json!({"DEFAULT_VALUE": {"TYPE": "FIXED", "VALUE": "2024-08-22T10:00:00"}});
    let id = add(
        &server,
        json!({"FIELD_NAME": "DTT", "USER_TYPE_ID": "datetime", "SETTINGS": fixed}),
    )
    .await;
    assert_eq!(
        get(&server, id).await["SETTINGS"],
        json!({"DEFAULT_VALUE": {"TYPE": "FIXED", "VALUE": "2024-08-22 10:00:00"}, "USE_SECOND": "Y", "USE_TIMEZONE": "N"})
    );
    let listed = ok(server
        .call("crm.contact.userfield.list", json!({"filter": {"ID": id}}))
        .await);
    assert_eq!(
        listed[0]["SETTINGS"]["DEFAULT_VALUE"]["VALUE"],
        "2024-08-22T10:00:00+00:00"
    );
}

fn items_of(field: &Value) -> Vec<(String, String, String)> {
    field["LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["VALUE"].as_str().unwrap().into(),
                i["SORT"].as_str().unwrap().into(),
                i["DEF"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test]
async fn enumeration_list_on_add_and_change_list_on_update() {
    let server = server().await;
    let id = add(&server, json!({
        "FIELD_NAME": "E", "USER_TYPE_ID": "enumeration",
        "LIST": [{"VALUE": "a", "DEF": "Y", "SORT": 10}, {"VALUE": "b", "DEF": "Y", "XML_ID": "XB"}, {"VALUE": ""}],
    })).await;
    let field = get(&server, id).await;
    let list = field["LIST"].as_array().unwrap().clone();
    let (a, b) = (
        list[0]["ID"].as_str().unwrap().to_string(),
        list[1]["ID"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        field["LIST"],
        json!([{"ID": a, "SORT": "10", "VALUE": "a", "DEF": "Y"}, {"ID": b, "SORT": "500", "VALUE": "b", "DEF": "N"}])
    );
    assert_eq!(
        field["SETTINGS"],
        json!({"DISPLAY": "LIST", "LIST_HEIGHT": 1, "CAPTION_NO_VALUE": "", "SHOW_NO_VALUE": "Y"})
    );
    let listed = ok(server.call("crm.contact.userfield.list", json!({})).await);
    assert_eq!(
        listed[0]["LIST"],
        json!([
            {"ID": a, "SORT": "10", "VALUE": "a", "DEF": "Y", "XML_ID": "0cc175b9c0f1b6a831c399e269772661"},
            {"ID": b, "SORT": "500", "VALUE": "b", "DEF": "N", "XML_ID": "XB"},
        ])
    );
    let change = json!([
        {"ID": a, "DEL": "Y"},
        {"ID": b, "VALUE": "b2", "SORT": 5, "DEF": "Y"},
        {"VALUE": "c", "XML_ID": "XC"},
        {"VALUE": ""},
        {"ID": 999999, "VALUE": "ignored"},
    ]);
    ok(server
        .call(
            "crm.contact.userfield.update",
            json!({"id": id, "fields": {"LIST": change}}),
        )
        .await);
    let listed = ok(server.call("crm.contact.userfield.list", json!({})).await);
    let items: Vec<Value> = listed[0]["LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| json!([i["VALUE"], i["SORT"], i["DEF"], i["XML_ID"]]))
        .collect();
    assert_eq!(
        json!(items),
        json!([
            ["b2", "5", "Y", "fbfba2e45c2045dc5cab22a5afe83d9d"],
            ["c", "500", "N", "XC"]
        ]),
        "a deleted; b rewritten with XML_ID md5(VALUE); c appended"
    );
    let c = listed[0]["LIST"][1]["ID"].clone();
    ok(server
        .call(
            "crm.contact.userfield.update",
            json!({"id": id, "fields": {"LIST": [{"ID": c, "VALUE": ""}]}}),
        )
        .await);
    assert_eq!(
        items_of(&get(&server, id).await),
        vec![("b2".into(), "5".into(), "Y".into())]
    );
    let dup = json!({"id": id, "fields": {"LIST": [{"VALUE": "d", "XML_ID": "fbfba2e45c2045dc5cab22a5afe83d9d"}], "SORT": 7}});
    err(
        server.call("crm.contact.userfield.update", dup).await,
        400,
        "ERROR_CORE",
        "List item with XML_ID='fbfba2e45c2045dc5cab22a5afe83d9d' already exists",
    );
    let field = get(&server, id).await;
    assert_eq!(
        (field["SORT"].clone(), items_of(&field).len()),
        (json!("100"), 1),
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn a_rejected_list_leaves_no_field_and_no_event() {
    let server = server().await;
    let fields = json!({"FIELD_NAME": "E", "USER_TYPE_ID": "enumeration", "LIST": [{"VALUE": "a", "XML_ID": "X"}, {"VALUE": "b", "XML_ID": "X"}]});
    err(
        server
            .call("crm.contact.userfield.add", json!({"fields": fields}))
            .await,
        400,
        "ERROR_CORE",
        "List item with XML_ID='X' already exists",
    );
    let (status, body) = server.call("crm.contact.userfield.list", json!({})).await;
    assert_eq!(
        (status, &body["result"], &body["total"]),
        (200, &json!([]), &json!(0))
    );
    assert_eq!(recorded(&server).await, vec![]);
}

#[tokio::test]
async fn list_filters_orders_and_lang() {
    let server = server().await;
    let a = add(&server, json!({"FIELD_NAME": "A", "USER_TYPE_ID": "string", "SORT": 300, "LABEL": "La", "MANDATORY": "Y"})).await;
    let b = add(
        &server,
        json!({"FIELD_NAME": "B", "USER_TYPE_ID": "integer", "SORT": 200, "XML_ID": "xb"}),
    )
    .await;
    let c = add(
        &server,
        json!({"FIELD_NAME": "C", "USER_TYPE_ID": "string", "SORT": 200}),
    )
    .await;
    let ids = |result: &Value| -> Vec<i64> {
        result
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["ID"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let list = |params: Value| server.call("crm.contact.userfield.list", params);
    let (status, body) = list(json!({})).await;
    assert_eq!(
        (status, ids(&body["result"]), &body["total"]),
        (200, vec![b, c, a], &json!(3))
    );
    assert!(body.get("next").is_none());
    let first = body["result"][2].as_object().unwrap();
    assert!(
        !first.contains_key("EDIT_FORM_LABEL"),
        "labels only with LANG"
    );
    let result = ok(list(json!({"order": {"ID": "desc"}})).await);
    assert_eq!(ids(&result), vec![c, b, a]);
    let result = ok(list(
        json!({"order": {"FIELD_NAME": "asc"}, "filter": {"USER_TYPE_ID": "string"}}),
    )
    .await);
    assert_eq!(ids(&result), vec![a, c]);
    for filter in [
        json!({"MANDATORY": "Y"}),
        json!({"FIELD_NAME": "UF_CRM_A"}),
        json!({"ID": a}),
        json!({"sort": "300"}),
    ] {
        assert_eq!(
            ids(&ok(list(json!({"filter": filter.clone()})).await)),
            vec![a],
            "{filter}"
        );
    }
    assert_eq!(
        ids(&ok(list(
            json!({"filter": {"XML_ID": "xb", "BOGUS": 1, "SORT": ""}})
        )
        .await)),
        vec![b]
    );
    let result = ok(list(json!({"filter": {"LANG": "de", "ID": a}})).await);
    let labels: Vec<&Value> = [
        "EDIT_FORM_LABEL",
        "LIST_COLUMN_LABEL",
        "LIST_FILTER_LABEL",
        "ERROR_MESSAGE",
        "HELP_MESSAGE",
    ]
    .iter()
    .map(|k| &result[0][*k])
    .collect();
    assert_eq!(json!(labels), json!(["La", "La", "La", "La", "La"]));
    let result = ok(list(json!({"filter": {"LANG": "ru", "ID": a}})).await);
    assert_eq!(result[0]["EDIT_FORM_LABEL"], Value::Null);
    err(
        list(json!({"order": "x", "filter": "y"})).await,
        400,
        "",
        "Parameter 'order' must be array.",
    );
    err(
        list(json!({"filter": "y"})).await,
        400,
        "",
        "Parameter 'filter' must be array.",
    );
}

/// Fact 46: filter keys are upper-cased (so `Lang` is the LANG directive, fact 47) and flags
/// compare exactly: a value that is neither Y nor N matches no field.
#[tokio::test]
async fn list_filter_keys_in_any_case_and_exact_flags() {
    let server = server().await;
    let id = add(
        &server,
        json!({"FIELD_NAME": "A", "USER_TYPE_ID": "integer", "LABEL": "La"}),
    )
    .await;
    let (status, body) = server
        .call(
            "crm.contact.userfield.list",
            json!({"filter": {"Lang": "de", "multiple": "n"}}),
        )
        .await;
    assert_eq!(status, 200);
    let mut body = body;
    body.as_object_mut().unwrap().remove("time");
    assert_eq!(
        body,
        json!({"result": [{
            "ID": id.to_string(), "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": "UF_CRM_A",
            "USER_TYPE_ID": "integer", "XML_ID": null, "SORT": "100", "MULTIPLE": "N",
            "MANDATORY": "N", "SHOW_FILTER": "N", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "Y",
            "IS_SEARCHABLE": "N",
            "SETTINGS": {"SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": null},
            "EDIT_FORM_LABEL": "La", "LIST_COLUMN_LABEL": "La", "LIST_FILTER_LABEL": "La",
            "ERROR_MESSAGE": "La", "HELP_MESSAGE": "La",
        }], "total": 1})
    );
    let (status, mut body) = server
        .call(
            "crm.contact.userfield.list",
            json!({"filter": {"MULTIPLE": "X"}}),
        )
        .await;
    body.as_object_mut().unwrap().remove("time");
    assert_eq!((status, body), (200, json!({"result": [], "total": 0})));
}

/// Fact 40: on a single-value field a LIST naming a new default resets DEF only on the items
/// it mentions; an unmentioned default stays, so two items can be defaults.
#[tokio::test]
async fn update_default_touches_only_listed_items() {
    let server = server().await;
    let id = add(
        &server,
        json!({"FIELD_NAME": "E", "USER_TYPE_ID": "enumeration", "LIST": [
            {"VALUE": "a", "DEF": "Y", "XML_ID": "A", "SORT": 10},
            {"VALUE": "b", "XML_ID": "B", "SORT": 20},
            {"VALUE": "c", "XML_ID": "C", "SORT": 30},
        ]}),
    )
    .await;
    let field = get(&server, id).await;
    let ids: Vec<Value> = field["LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ID"].clone())
        .collect();
    let change = json!([
        {"ID": ids[1], "VALUE": "b", "XML_ID": "B", "DEF": "N"},
        {"VALUE": "d", "DEF": "Y", "XML_ID": "D", "SORT": 40},
    ]);
    ok(server
        .call(
            "crm.contact.userfield.update",
            json!({"id": id, "fields": {"LIST": change}}),
        )
        .await);
    let field = get(&server, id).await;
    let d = field["LIST"][3]["ID"].clone();
    assert_eq!(
        field["LIST"],
        json!([
            {"ID": ids[0], "SORT": "10", "VALUE": "a", "DEF": "Y"},
            {"ID": ids[1], "SORT": "20", "VALUE": "b", "DEF": "N"},
            {"ID": ids[2], "SORT": "30", "VALUE": "c", "DEF": "N"},
            {"ID": d, "SORT": "40", "VALUE": "d", "DEF": "Y"},
        ])
    );
}

#[tokio::test]
async fn get_update_delete_errors() {
    let server = server().await;
    let id = add(
        &server,
        json!({"FIELD_NAME": "X", "USER_TYPE_ID": "string"}),
    )
    .await;
    for method in ["get", "update", "delete"] {
        let name = format!("crm.contact.userfield.{method}");
        for bad in [
            json!({}),
            json!({"id": 0}),
            json!({"id": -3}),
            json!({"id": "abc"}),
        ] {
            err(
                server.call(&name, bad).await,
                400,
                "",
                "ID is not defined or invalid.",
            );
        }
        let missing = id + 1000;
        err(
            server.call(&name, json!({"ID": missing})).await,
            400,
            "ERROR_NOT_FOUND",
            &format!("The entity with ID '{missing}' is not found."),
        );
    }
    err(
        server
            .call(
                "crm.contact.userfield.update",
                json!({"id": 0, "fields": "x"}),
            )
            .await,
        400,
        "",
        "Parameter 'fields' must be array.",
    );
    ok(server
        .call("crm.contact.userfield.update", json!({"id": id}))
        .await);
    assert_eq!(
        ok(server
            .call("crm.contact.userfield.delete", json!({"id": id}))
            .await),
        json!(true)
    );
    err(
        server
            .call("crm.contact.userfield.get", json!({"id": id}))
            .await,
        400,
        "ERROR_NOT_FOUND",
        &format!("The entity with ID '{id}' is not found."),
    );
}

/// Inserts a field of another entity straight into the store.
async fn deal_field(server: &TestServer) -> i64 {
    let store = open_store(server).await;
    let mut tx = store.begin_write().await.unwrap();
    let field = FieldDef {
        id: 0,
        entity_id: "CRM_DEAL".into(),
        field_name: "UF_CRM_DEAL".into(),
        user_type_id: "string".into(),
        xml_id: None,
        sort: 100,
        multiple: false,
        mandatory: false,
        show_filter: "N".into(),
        show_in_list: true,
        edit_in_list: true,
        is_searchable: false,
        settings: json!([]),
        labels: json!({}),
    };
    let id = userfields::insert_field(&mut tx, &field, 0).await.unwrap();
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn permissions_and_fields_of_other_entities() {
    let server = server().await;
    let id = add(
        &server,
        json!({"FIELD_NAME": "X", "USER_TYPE_ID": "string"}),
    )
    .await;
    let bob = plain_user(&server);
    for (method, params) in [
        (
            "add",
            json!({"fields": {"FIELD_NAME": "Y", "USER_TYPE_ID": "string"}}),
        ),
        ("update", json!({"id": id, "fields": {}})),
        ("delete", json!({"id": id})),
    ] {
        let answer = call_as(
            &server,
            &bob,
            &format!("crm.contact.userfield.{method}"),
            params,
        )
        .await;
        err(answer, 400, "", "Access denied.");
    }
    let field = ok(call_as(
        &server,
        &bob,
        "crm.contact.userfield.get",
        json!({"id": id}),
    )
    .await);
    assert_eq!(field["FIELD_NAME"], "UF_CRM_X");
    let (status, body) = call_as(&server, &bob, "crm.contact.userfield.list", json!({})).await;
    assert_eq!((status, &body["total"]), (200, &json!(1)));
    let deal = deal_field(&server).await;
    for method in ["get", "update", "delete"] {
        let answer = server
            .call(
                &format!("crm.contact.userfield.{method}"),
                json!({"id": deal}),
            )
            .await;
        err(answer, 400, "", "Access denied.");
    }
    assert_eq!(
        ok(server.call("crm.contact.userfield.list", json!({})).await)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A webhook without the crm scope is refused before the method runs.
    let user = server.cli(&["webhook", "add", "--user", "1", "--scope", "user"]);
    let (status, body) = call_as(
        &server,
        user.trim(),
        "crm.contact.userfield.list",
        json!({}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"error": "insufficient_scope", "error_description": ""})
        )
    );
}

#[tokio::test]
async fn concurrent_adds_of_one_name_one_wins() {
    let server = server().await;
    let fields = json!({"fields": {"FIELD_NAME": "RACE", "USER_TYPE_ID": "string"}});
    let answers = futures_join(&server, fields, 6).await;
    let wins = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(wins, 1, "{answers:?}");
    for answer in answers.into_iter().filter(|(s, _)| *s != 200) {
        err(
            answer,
            400,
            "ERROR_CORE",
            "The field UF_CRM_RACE for the CRM_CONTACT object already exists.",
        );
    }
    assert_eq!(recorded(&server).await.len(), 1);
}

async fn futures_join(server: &TestServer, params: Value, n: usize) -> Vec<(u16, Value)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let url = format!("{}crm.contact.userfield.add", server.webhook_url);
        let request = server.client().post(url).json(&params).send();
        tasks.push(tokio::spawn(
            async move { decode(request.await.unwrap()).await },
        ));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn events_are_recorded_in_order() {
    let server = server().await;
    let s = add(
        &server,
        json!({"FIELD_NAME": "S", "USER_TYPE_ID": "string"}),
    )
    .await;
    let e = add(
        &server,
        json!({"FIELD_NAME": "E", "USER_TYPE_ID": "enumeration"}),
    )
    .await;
    ok(server
        .call(
            "crm.contact.userfield.update",
            json!({"id": s, "fields": {"LIST": [{"VALUE": "x"}]}}),
        )
        .await);
    ok(server
        .call(
            "crm.contact.userfield.update",
            json!({"id": e, "fields": {"LIST": []}}),
        )
        .await);
    ok(server
        .call("crm.contact.userfield.update", json!({"id": e}))
        .await);
    ok(server
        .call("crm.contact.userfield.delete", json!({"id": e}))
        .await);
    err(
        server
            .call("crm.contact.userfield.delete", json!({"id": e}))
            .await,
        400,
        "ERROR_NOT_FOUND",
        &format!("The entity with ID '{e}' is not found."),
    );
    let data = |id: i64, name: &str| json!({"FIELDS": {"ID": id, "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": name}});
    let (ds, de) = (data(s, "UF_CRM_S"), data(e, "UF_CRM_E"));
    let expected: Vec<(String, Value)> = [
        ("ONCRMCONTACTUSERFIELDADD", &ds),
        ("ONCRMCONTACTUSERFIELDADD", &de),
        ("ONCRMCONTACTUSERFIELDSETENUMVALUES", &de),
        ("ONCRMCONTACTUSERFIELDUPDATE", &ds),
        ("ONCRMCONTACTUSERFIELDUPDATE", &de),
        ("ONCRMCONTACTUSERFIELDSETENUMVALUES", &de),
        ("ONCRMCONTACTUSERFIELDUPDATE", &de),
        ("ONCRMCONTACTUSERFIELDDELETE", &de),
    ]
    .into_iter()
    .map(|(n, d)| (n.to_string(), d.clone()))
    .collect();
    assert_eq!(recorded(&server).await, expected);
    let store = open_store(&server).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let all = EventFilter {
        limit: 1000,
        ..EventFilter::default()
    };
    let rows = events::list(&mut conn, &all).await.unwrap();
    let last = rows.last().unwrap();
    assert_eq!(last.user_id, Some(1));
    assert!(!last.request_id.is_empty());
}

#[tokio::test]
async fn the_1017th_field_is_refused() {
    let server = server().await;
    let store = open_store(&server).await;
    let mut tx = store.begin_write().await.unwrap();
    for n in 0..1016 {
        let field = FieldDef {
            id: 0,
            entity_id: "CRM_CONTACT".into(),
            field_name: format!("UF_CRM_N{n}"),
            user_type_id: "string".into(),
            xml_id: None,
            sort: 100,
            multiple: false,
            mandatory: false,
            show_filter: "N".into(),
            show_in_list: true,
            edit_in_list: true,
            is_searchable: false,
            settings: json!([]),
            labels: json!({}),
        };
        userfields::insert_field(&mut tx, &field, 0).await.unwrap();
    }
    tx.commit().await.unwrap();
    let fields = json!({"fields": {"FIELD_NAME": "ONE_MORE", "USER_TYPE_ID": "string"}});
    err(
        server.call("crm.contact.userfield.add", fields).await,
        500,
        "INTERNAL_SERVER_ERROR",
        "Internal server error",
    );
    // A duplicate name maps to the storage error, not a crash.
    let mut tx = store.begin_write().await.unwrap();
    let dup = userfields::get_field_locked(&mut tx, 1)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        userfields::insert_field(&mut tx, &dup, 0).await,
        Err(StoreError::Conflict)
    ));
}

#[tokio::test]
async fn userfield_helpers() {
    let server = server().await;
    let types = ok(server.call("crm.userfield.types", json!({})).await);
    assert_eq!(types.as_array().unwrap().len(), 16);
    assert_eq!(types[0], json!({"ID": "string", "title": "String"}));
    assert_eq!(
        types[15],
        json!({"ID": "crm", "title": "Binding to CRM Entities"})
    );
    let fields = ok(server.call("crm.userfield.fields", json!({})).await);
    assert_eq!(fields.as_object().unwrap().len(), 19);
    assert_eq!(
        fields["ID"],
        json!({"type": "int", "title": "ID", "isReadOnly": true})
    );
    assert_eq!(
        fields["FIELD_NAME"],
        json!({"type": "string", "title": "Code", "isImmutable": true})
    );
    assert_eq!(
        fields["LIST"],
        json!({"type": "uf_enum_element", "title": "List elements", "isMultiple": true})
    );
    assert_eq!(
        fields["MANDATORY"],
        json!({"type": "char", "title": "Mandatory"})
    );
    assert_eq!(
        ok(server
            .call("crm.userfield.settings.fields", json!({"type": "double"}))
            .await),
        json!({"DEFAULT_VALUE": {"type": "double", "title": "Default Value"}, "PRECISION": {"type": "int", "title": "Precision"}})
    );
    assert_eq!(
        ok(server
            .call("crm.userfield.settings.fields", json!({"TYPE": "nope"}))
            .await),
        json!([])
    );
    err(
        server
            .call("crm.userfield.settings.fields", json!({}))
            .await,
        400,
        "",
        "Parameter 'type' is not specified or empty.",
    );
    assert_eq!(
        ok(server
            .call("crm.userfield.enumeration.fields", json!({}))
            .await),
        json!({
            "ID": {"type": "int", "title": "ID", "isReadOnly": true},
            "SORT": {"type": "int", "title": "Sorting"},
            "VALUE": {"type": "string", "title": "Value"},
            "DEF": {"type": "string", "title": "Default Value"},
            "DEL": {"type": "string", "title": "Element Deletion Flag"},
        })
    );
}

#[tokio::test]
async fn long_labels_list_values_and_xml_ids_are_cut_to_255_characters() {
    let server = server().await;
    // Far more than a column holds: a label is copied into ten places here (eighty on a portal
    // of sixteen languages), and must not be copied at full length.
    let huge = "Ж".repeat(1_000_000);
    let long = "v".repeat(300);
    let id = ok(server
        .call(
            "crm.contact.userfield.add",
            json!({"fields": {
                "FIELD_NAME": "LONG", "USER_TYPE_ID": "enumeration", "LABEL": huge,
                "XML_ID": long, "HELP_MESSAGE": {"en": long},
                "LIST": [{"VALUE": long, "XML_ID": long}],
            }}),
        )
        .await);
    let field = ok(server
        .call("crm.contact.userfield.get", json!({"id": id}))
        .await);
    let cut = "Ж".repeat(255);
    assert_eq!(field["EDIT_FORM_LABEL"], json!({"en": cut, "de": cut}));
    assert_eq!(field["HELP_MESSAGE"]["en"], "v".repeat(255));
    assert_eq!(field["XML_ID"], "v".repeat(255));
    assert_eq!(field["LIST"][0]["VALUE"], "v".repeat(255));
    // `get` shows list items without their XML_ID; `list` shows it.
    let listed = ok(server.call("crm.contact.userfield.list", json!({})).await);
    assert_eq!(listed[0]["LIST"][0]["XML_ID"], "v".repeat(255));

    // Update cuts the same way.
    ok(server
        .call(
            "crm.contact.userfield.update",
            json!({"id": id, "fields": {"LIST_COLUMN_LABEL": huge}}),
        )
        .await);
    let field = ok(server
        .call("crm.contact.userfield.get", json!({"id": id}))
        .await);
    assert_eq!(field["LIST_COLUMN_LABEL"], json!({"en": cut, "de": cut}));
}
