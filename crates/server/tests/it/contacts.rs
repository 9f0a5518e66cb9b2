//! `crm.contact.*` over real HTTP: standard fields, PHONE/EMAIL, custom-field values of every
//! type, MANDATORY, select/filter/order/paging, what field and item deletes do to values, and
//! the signed links of `file` values.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::userfields::{add, err, ok, open_store};
use crate::utils::TestServer;

async fn server() -> TestServer {
    TestServer::start_with(&["--languages", "en,de", "--utc-offset", "+03:00"]).await
}

pub(crate) async fn contact_add(server: &TestServer, fields: Value) -> i64 {
    ok(server
        .call("crm.contact.add", json!({"fields": fields}))
        .await)
    .as_i64()
    .expect("crm.contact.add returns an integer")
}

pub(crate) async fn contact_get(server: &TestServer, id: i64) -> Value {
    ok(server.call("crm.contact.get", json!({"id": id})).await)
}

/// The ids of a field's list items, in order.
pub(crate) async fn item_ids(server: &TestServer, field: i64) -> Vec<i64> {
    let def = ok(server
        .call("crm.contact.userfield.get", json!({"id": field}))
        .await);
    def["LIST"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["ID"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// The `showUrl` a file of `owner`'s field shows, computed apart from the server: the token is
/// the HMAC-SHA256 of `owner|field|file` under the portal's file secret, cut to 32 hex digits.
fn signed_show_url(secret: &str, owner: i64, field: &str, file: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{owner}|{field}|{file}").as_bytes());
    let token: String = mac.finalize().into_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "/bitrix/components/bitrix/crm.contact.show/show_file.php?ownerId={owner}\
         &fieldName={field}&dynamic=Y&fileId={file}&token={token}"
    )
}

async fn file_secret(server: &TestServer) -> String {
    let store = open_store(server).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let portal = b24lite_store::portal::get_portal(&mut conn).await.unwrap();
    drop(conn);
    store.close().await;
    portal.file_secret
}

/// An offset date string parses back to a moment near now.
fn is_portal_date(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with("+03:00"))
}

#[tokio::test]
async fn contact_crud_with_standard_fields() {
    let server = server().await;
    let id = contact_add(&server, json!({
        "NAME": "Ann", "LAST_NAME": "Lee", "TYPE_ID": "CLIENT", "SOURCE_ID": "CALL",
        "COMMENTS": "hi", "OPENED": "N",
        "PHONE": [{"VALUE": "+100", "VALUE_TYPE": "WORK"}, {"VALUE": "+200", "VALUE_TYPE": "mobile"}],
        "EMAIL": [{"VALUE": "ann@example.com"}],
    })).await;
    let mut contact = contact_get(&server, id).await;
    for key in ["DATE_CREATE", "DATE_MODIFY"] {
        assert!(is_portal_date(&contact[key]), "{key}: {}", contact[key]);
        contact[key] = json!("<date>");
    }
    let phone = contact["PHONE"].clone();
    let (p1, p2) = (
        phone[0]["ID"].as_str().unwrap().to_string(),
        phone[1]["ID"].as_str().unwrap().to_string(),
    );
    let email_id = contact["EMAIL"][0]["ID"].as_str().unwrap().to_string();
    assert_eq!(
        contact,
        json!({
            "ID": id.to_string(), "NAME": "Ann", "SECOND_NAME": null, "LAST_NAME": "Lee",
            "TYPE_ID": "CLIENT", "SOURCE_ID": "CALL", "COMMENTS": "hi", "OPENED": "N", "EXPORT": "Y",
            "ASSIGNED_BY_ID": "1", "CREATED_BY_ID": "1", "MODIFY_BY_ID": "1",
            "DATE_CREATE": "<date>", "DATE_MODIFY": "<date>", "HAS_PHONE": "Y", "HAS_EMAIL": "Y",
            "PHONE": [
                {"ID": p1, "VALUE_TYPE": "WORK", "VALUE": "+100", "TYPE_ID": "PHONE"},
                {"ID": p2, "VALUE_TYPE": "MOBILE", "VALUE": "+200", "TYPE_ID": "PHONE"},
            ],
            "EMAIL": [{"ID": email_id, "VALUE_TYPE": "WORK", "VALUE": "ann@example.com", "TYPE_ID": "EMAIL"}],
        })
    );
    let update = json!({"id": id, "fields": {
        "SECOND_NAME": "Q", "PHONE": [{"ID": p1, "VALUE": ""}, {"ID": p2, "VALUE": "+300", "VALUE_TYPE": "HOME"}, {"VALUE": "+400"}],
    }});
    assert_eq!(
        ok(server.call("crm.contact.update", update).await),
        json!(true)
    );
    let contact = contact_get(&server, id).await;
    assert_eq!(contact["SECOND_NAME"], "Q");
    let phones: Vec<(&Value, &Value)> = contact["PHONE"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (&p["VALUE"], &p["VALUE_TYPE"]))
        .collect();
    assert_eq!(json!(phones), json!([["+300", "HOME"], ["+400", "WORK"]]));
    assert_eq!(
        ok(server.call("crm.contact.delete", json!({"id": id})).await),
        json!(true)
    );
    for method in [
        "crm.contact.get",
        "crm.contact.update",
        "crm.contact.delete",
    ] {
        err(
            server.call(method, json!({"id": id, "fields": {}})).await,
            400,
            "",
            "Not found",
        );
        err(
            server.call(method, json!({"id": 0, "fields": {}})).await,
            400,
            "",
            "ID is not defined or invalid.",
        );
    }
    err(
        server.call("crm.contact.add", json!({"fields": "x"})).await,
        400,
        "",
        "Parameter 'fields' must be array.",
    );
}

/// `(type, settings, value sent, value read)` for every built-in type.
fn every_type(item: i64) -> Vec<(&'static str, Value, Value, Value)> {
    vec![
        ("string", json!({}), json!("hello"), json!("hello")),
        ("integer", json!({}), json!("42"), json!(42)),
        ("double", json!({}), json!(2.5), json!(2.5)),
        ("boolean", json!({}), json!("Y"), json!("1")),
        (
            "enumeration",
            json!({}),
            json!(item),
            json!(item.to_string()),
        ),
        (
            "datetime",
            json!({}),
            json!("2024-08-22T07:30:00+00:00"),
            json!("2024-08-22T10:30:00+03:00"),
        ),
        (
            "date",
            json!({}),
            json!("2024-08-22"),
            json!("2024-08-22T03:00:00+03:00"),
        ),
        ("money", json!({}), json!("300"), json!("300|USD")),
        (
            "url",
            json!({}),
            json!("https://example.com/a"),
            json!("https://example.com/a"),
        ),
        (
            "address",
            json!({}),
            json!("Berlin|52.5;13.4|575"),
            json!("Berlin|52.5;13.4|575"),
        ),
        (
            "file",
            json!({}),
            json!({"fileData": ["report.pdf", "aGVsbG8="]}),
            json!("<file>"),
        ),
        ("employee", json!({}), json!(1), json!("1")),
        (
            "crm_status",
            json!({"ENTITY_TYPE": "INDUSTRY"}),
            json!("IT"),
            json!("IT"),
        ),
        ("iblock_section", json!({}), json!(5), json!("5")),
        ("iblock_element", json!({}), json!("7"), json!("7")),
        ("crm", json!({"CONTACT": "Y"}), json!("C_2"), json!("C_2")),
    ]
}

#[tokio::test]
async fn one_field_of_each_type_round_trips_through_a_contact() {
    let server = server().await;
    let enum_field = add(&server, json!({"FIELD_NAME": "T_ENUMERATION", "USER_TYPE_ID": "enumeration", "LIST": [{"VALUE": "one"}]})).await;
    let field = ok(server
        .call("crm.contact.userfield.get", json!({"id": enum_field}))
        .await);
    let item: i64 = field["LIST"][0]["ID"].as_str().unwrap().parse().unwrap();
    let mut ids = vec![enum_field];
    let mut values = serde_json::Map::new();
    for (kind, settings, sent, _) in every_type(item) {
        if kind != "enumeration" {
            ids.push(add(&server, json!({"FIELD_NAME": format!("T_{kind}"), "USER_TYPE_ID": kind, "SETTINGS": settings})).await);
        }
        values.insert(format!("UF_CRM_T_{}", kind.to_uppercase()), sent);
    }
    let contact = contact_add(&server, Value::Object(values)).await;
    let read = contact_get(&server, contact).await;
    let secret = file_secret(&server).await;
    for (kind, _, _, expected) in every_type(item) {
        let expected = if kind == "file" {
            let url = signed_show_url(&secret, contact, "UF_CRM_T_FILE", 1);
            json!({"id": 1, "showUrl": url, "downloadUrl": format!("{url}&download=y")})
        } else {
            expected
        };
        let name = format!("UF_CRM_T_{}", kind.to_uppercase());
        assert_eq!(read[name], expected, "{kind}");
    }
    let store = open_store(&server).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let (file, content) = b24lite_store::contacts::get_file(&mut conn, 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (file.name.as_str(), file.size, content.as_slice()),
        ("report.pdf", 5, b"hello".as_slice())
    );
    // The URLs the contact shows serve the file, and only for the contact and field holding it.
    let server_ref = &server;
    let fetch = |path: String| async move {
        let url = format!("{}{path}", server_ref.base_url);
        server_ref.client().get(url).send().await.unwrap()
    };
    let download = fetch(
        read["UF_CRM_T_FILE"]["downloadUrl"]
            .as_str()
            .unwrap()
            .to_string(),
    )
    .await;
    assert_eq!(download.status().as_u16(), 200);
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"report.pdf\""
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"hello");
    let show = fetch(
        read["UF_CRM_T_FILE"]["showUrl"]
            .as_str()
            .unwrap()
            .to_string(),
    )
    .await;
    assert_eq!(
        show.headers()["content-disposition"],
        "inline; filename=\"report.pdf\""
    );
    let other_owner = read["UF_CRM_T_FILE"]["showUrl"].as_str().unwrap().replace(
        &format!("ownerId={contact}"),
        &format!("ownerId={}", contact + 1),
    );
    assert_eq!(fetch(other_owner).await.status().as_u16(), 404);
    let listed = ok(server
        .call("crm.contact.list", json!({"select": ["UF_*"]}))
        .await);
    assert_eq!(listed[0]["UF_CRM_T_DATE"], "2024-08-22T03:00:00+03:00");
    assert_eq!(
        listed[0].as_object().unwrap().len(),
        17,
        "ID and the 16 fields: {}",
        listed[0]
    );
    for id in ids {
        ok(server
            .call("crm.contact.userfield.delete", json!({"id": id}))
            .await);
    }
    let read = contact_get(&server, contact).await;
    assert!(
        read.as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("UF_")),
        "{read}"
    );
}

/// GETs a relative URL as a client that read it from the API would; the status and body.
async fn fetch(server: &TestServer, url: &str) -> (u16, String) {
    let response = server
        .client()
        .get(format!("{}{url}", server.base_url))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn file_links_are_signed_so_ids_cannot_be_walked() {
    let server = server().await;
    add(
        &server,
        json!({"FIELD_NAME": "DOCS", "USER_TYPE_ID": "file", "MULTIPLE": "Y"}),
    )
    .await;
    add(
        &server,
        json!({"FIELD_NAME": "COPY", "USER_TYPE_ID": "file"}),
    )
    .await;
    let uploads = json!([{"fileData": ["a.txt", "aGVsbG8="]}, {"fileData": ["b.txt", "aGk="]}]);
    let ann = contact_add(&server, json!({"NAME": "Ann", "UF_CRM_DOCS": uploads})).await;
    let read = contact_get(&server, ann).await;
    let file = |i: usize| read["UF_CRM_DOCS"][i]["id"].as_i64().unwrap();
    let (a, b) = (file(0), file(1));
    // Ann's other field and Bob hold file `a` too, so a link moved to them is refused by its
    // token alone.
    let bob = contact_add(&server, json!({"NAME": "Bob", "UF_CRM_DOCS": [a]})).await;
    let copy = json!({"id": ann, "fields": {"UF_CRM_COPY": a}});
    ok(server.call("crm.contact.update", copy).await);

    let show = read["UF_CRM_DOCS"][0]["showUrl"].as_str().unwrap();
    let download = read["UF_CRM_DOCS"][1]["downloadUrl"].as_str().unwrap();
    assert_eq!(fetch(&server, show).await, (200, "hello".into()));
    assert_eq!(fetch(&server, download).await, (200, "hi".into()));
    let bobs = contact_get(&server, bob).await["UF_CRM_DOCS"][0]["showUrl"].clone();
    assert_eq!(
        fetch(&server, bobs.as_str().unwrap()).await,
        (200, "hello".into())
    );

    let (_, token) = show.split_once("&token=").unwrap();
    assert_eq!(token.len(), 32, "{show}");
    let mut altered = show.to_string();
    let last = if altered.pop() == Some('0') { '1' } else { '0' };
    altered.push(last);
    let refused = [
        ("no token", show.replace(&format!("&token={token}"), "")),
        ("empty token", show.replace(token, "")),
        ("altered token", altered),
        ("shortened token", show[..show.len() - 1].to_string()),
        (
            "download without token",
            download.split("&token=").next().unwrap().to_string() + "&download=y",
        ),
        (
            "another file",
            show.replace(&format!("fileId={a}"), &format!("fileId={b}")),
        ),
        (
            "another owner",
            show.replace(&format!("ownerId={ann}"), &format!("ownerId={bob}")),
        ),
        (
            "another field",
            show.replace("fieldName=UF_CRM_DOCS", "fieldName=UF_CRM_COPY"),
        ),
    ];
    for (case, url) in refused {
        assert_ne!(url, show, "{case}");
        assert_eq!(
            fetch(&server, &url).await,
            (404, "File not found".into()),
            "{case}: {url}"
        );
    }

    // A link signed right still needs the contact to hold the file: Bob's stops working once
    // his field no longer does.
    let replaced = json!({"id": bob, "fields": {"UF_CRM_DOCS": [{"fileData": ["c.txt", "aGk="]}]}});
    ok(server.call("crm.contact.update", replaced).await);
    assert_eq!(
        fetch(&server, bobs.as_str().unwrap()).await,
        (404, "File not found".into())
    );

    // The secret is the portal's, kept in the store: links outlive a restart.
    let server = server
        .restart(&["--languages", "en,de", "--utc-offset", "+03:00"])
        .await;
    assert_eq!(fetch(&server, show).await, (200, "hello".into()));
}

/// Instances started together on one PostgreSQL database agree on the file secret, so a link
/// read through one downloads through the other.
#[tokio::test]
async fn file_links_work_on_every_instance() {
    let Some(mut servers) = TestServer::start_together(2, &[]).await else {
        eprintln!("skipped: several instances need PostgreSQL (B24LITE_TEST_POSTGRES_URL)");
        return;
    };
    // Declared in this order so the second stops before the first drops the database.
    let first = servers.remove(0);
    let second = servers.remove(0);
    add(&first, json!({"FIELD_NAME": "DOC", "USER_TYPE_ID": "file"})).await;
    let upload = json!({"UF_CRM_DOC": {"fileData": ["a.txt", "aGVsbG8="]}});
    let id = contact_add(&first, upload).await;
    let read = contact_get(&first, id).await;
    let show = read["UF_CRM_DOC"]["showUrl"].as_str().unwrap();
    assert_eq!(fetch(&second, show).await, (200, "hello".into()));
    assert_eq!(
        contact_get(&second, id).await["UF_CRM_DOC"],
        read["UF_CRM_DOC"]
    );
}

#[tokio::test]
async fn multiple_values_mandatory_and_clearing() {
    let server = server().await;
    let tags = add(
        &server,
        json!({"FIELD_NAME": "TAGS", "USER_TYPE_ID": "string", "MULTIPLE": "Y"}),
    )
    .await;
    add(&server, json!({"FIELD_NAME": "MUST", "USER_TYPE_ID": "integer", "MANDATORY": "Y", "EDIT_FORM_LABEL": {"en": "Must have"}})).await;
    err(
        server
            .call(
                "crm.contact.add",
                json!({"fields": {"NAME": "x", "UF_CRM_TAGS": ["a"]}}),
            )
            .await,
        400,
        "",
        "The \"Must have\" field is required.",
    );
    let (status, body) = server.call("crm.contact.list", json!({})).await;
    assert_eq!((status, &body["total"]), (200, &json!(0)), "nothing stored");
    let id = contact_add(
        &server,
        json!({"NAME": "x", "UF_CRM_TAGS": ["a", "", "b"], "UF_CRM_MUST": 3}),
    )
    .await;
    let read = contact_get(&server, id).await;
    assert_eq!(
        (&read["UF_CRM_TAGS"], &read["UF_CRM_MUST"]),
        (&json!(["a", "b"]), &json!(3))
    );
    err(
        server
            .call(
                "crm.contact.update",
                json!({"id": id, "fields": {"UF_CRM_MUST": ""}}),
            )
            .await,
        400,
        "",
        "The \"Must have\" field is required.",
    );
    ok(server
        .call(
            "crm.contact.update",
            json!({"id": id, "fields": {"UF_CRM_TAGS": []}}),
        )
        .await);
    let read = contact_get(&server, id).await;
    assert_eq!(
        (&read["UF_CRM_TAGS"], &read["UF_CRM_MUST"]),
        (&json!([]), &json!(3))
    );
    ok(server
        .call("crm.contact.userfield.delete", json!({"id": tags}))
        .await);
    let read = contact_get(&server, id).await;
    assert!(read.get("UF_CRM_TAGS").is_none());
}

#[tokio::test]
async fn deleting_an_item_or_a_field_removes_its_values() {
    let server = server().await;
    let field = add(&server, json!({"FIELD_NAME": "COLOR", "USER_TYPE_ID": "enumeration", "MULTIPLE": "Y", "LIST": [{"VALUE": "red"}, {"VALUE": "blue"}]})).await;
    let def = ok(server
        .call("crm.contact.userfield.get", json!({"id": field}))
        .await);
    let red = def["LIST"][0]["ID"].as_str().unwrap().to_string();
    let blue = def["LIST"][1]["ID"].as_str().unwrap().to_string();
    let id = contact_add(&server, json!({"UF_CRM_COLOR": [red, blue]})).await;
    assert_eq!(
        contact_get(&server, id).await["UF_CRM_COLOR"],
        json!([red, blue])
    );
    let change = json!({"id": field, "fields": {"LIST": [{"ID": red, "DEL": "Y"}]}});
    ok(server.call("crm.contact.userfield.update", change).await);
    assert_eq!(
        contact_get(&server, id).await["UF_CRM_COLOR"],
        json!([blue])
    );
    ok(server
        .call("crm.contact.userfield.delete", json!({"id": field}))
        .await);
    // The background purge empties the values table of the deleted field.
    let store = open_store(&server).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = b24lite_store::contacts::orphaned_fields(&mut conn)
            .await
            .unwrap();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "values of field {left:?} not purged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn list_select_filter_order_and_paging() {
    let server = server().await;
    add(
        &server,
        json!({"FIELD_NAME": "SCORE", "USER_TYPE_ID": "integer"}),
    )
    .await;
    for n in 0..55 {
        let name = if n % 2 == 0 { "Even" } else { "Odd" };
        contact_add(
            &server,
            json!({"NAME": format!("{name}{n}"), "UF_CRM_SCORE": n}),
        )
        .await;
    }
    let (status, body) = server
        .call(
            "crm.contact.list",
            json!({"select": ["NAME"], "order": {"ID": "ASC"}}),
        )
        .await;
    assert_eq!(
        (status, &body["total"], &body["next"]),
        (200, &json!(55), &json!(50))
    );
    assert_eq!(body["result"].as_array().unwrap().len(), 50);
    assert_eq!(
        body["result"][0],
        json!({"ID": body["result"][0]["ID"], "NAME": "Even0"})
    );
    let (_, body) = server
        .call("crm.contact.list", json!({"select": ["NAME"], "start": 50}))
        .await;
    assert_eq!(
        (body["result"].as_array().unwrap().len(), &body["total"]),
        (5, &json!(55))
    );
    assert!(body.get("next").is_none());
    let (_, body) = server.call("crm.contact.list", json!({"start": -1})).await;
    assert_eq!(
        (body["result"].as_array().unwrap().len(), &body["total"]),
        (50, &json!(0))
    );
    assert!(body.get("next").is_none());
    let names = |result: &Value| -> Vec<String> {
        result
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["NAME"].as_str().unwrap().to_string())
            .collect()
    };
    let filter = json!({"filter": {">=UF_CRM_SCORE": 50, "%NAME": "odd"}, "order": {"NAME": "DESC"}, "select": ["NAME", "UF_CRM_SCORE"]});
    let (_, body) = server.call("crm.contact.list", filter).await;
    assert_eq!(
        (names(&body["result"]), &body["total"]),
        (vec!["Odd53".to_string(), "Odd51".to_string()], &json!(2))
    );
    assert_eq!(body["result"][0]["UF_CRM_SCORE"], 53);
    let (_, body) = server
        .call(
            "crm.contact.list",
            json!({"filter": {"UF_CRM_SCORE": "7"}, "select": ["*"]}),
        )
        .await;
    assert_eq!(names(&body["result"]), vec!["Odd7"]);
    assert!(
        body["result"][0].get("UF_CRM_SCORE").is_none(),
        "* selects no custom fields"
    );
    assert!(body["result"][0].get("DATE_CREATE").is_some());
}

#[tokio::test]
async fn contact_fields_lists_custom_fields() {
    let server = server().await;
    add(&server, json!({"FIELD_NAME": "NOTE", "USER_TYPE_ID": "string", "LABEL": "Note", "MANDATORY": "Y", "LIST_COLUMN_LABEL": {"de": "Notiz", "en": "Note col"}})).await;
    add(&server, json!({"FIELD_NAME": "KIND", "USER_TYPE_ID": "enumeration", "MULTIPLE": "Y", "LIST": [{"VALUE": "k"}]})).await;
    let fields = ok(server.call("crm.contact.fields", json!({})).await);
    assert_eq!(
        fields["NAME"],
        json!({"type": "string", "isRequired": false, "isReadOnly": false, "isImmutable": false, "isMultiple": false, "isDynamic": false, "title": "First name"})
    );
    assert_eq!(fields["PHONE"]["isMultiple"], true);
    assert_eq!(
        fields["UF_CRM_NOTE"],
        json!({
            "type": "string", "isRequired": true, "isReadOnly": false, "isImmutable": false,
            "isMultiple": false, "isDynamic": true, "title": "UF_CRM_NOTE", "listLabel": "Note col",
            "formLabel": "Note", "filterLabel": "Note",
            "settings": {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": ""},
        })
    );
    let kind = &fields["UF_CRM_KIND"];
    assert_eq!(
        (&kind["isMultiple"], &kind["items"][0]["VALUE"]),
        (&json!(true), &json!("k"))
    );
    assert!(kind["items"][0]["ID"].is_string());
}

/// Benchmark (run with `--ignored`): a field holding a value on each of a million contacts is
/// deleted through the API; the call must not wait on the values.
#[tokio::test]
#[ignore = "benchmark: inserts a million rows"]
async fn field_delete_with_a_million_values_is_quick() {
    let server = server().await;
    let field = add(
        &server,
        json!({"FIELD_NAME": "BIG", "USER_TYPE_ID": "string"}),
    )
    .await;
    let store = open_store(&server).await;
    let fill = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
         INSERT INTO uf_values (field_id, contact_id, position, value) SELECT {field}, i, 0, 'v' FROM n"
    );
    sqlx::query(sqlx::AssertSqlSafe(fill))
        .execute(store.pool())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    ok(server
        .call("crm.contact.userfield.delete", json!({"id": field}))
        .await);
    let took = started.elapsed();
    eprintln!("crm.contact.userfield.delete with 1,000,000 values: {took:?}");
    assert!(took < std::time::Duration::from_millis(500), "{took:?}");
    let purge_started = std::time::Instant::now();
    let mut conn = store.pool().acquire().await.unwrap();
    while !b24lite_store::contacts::orphaned_fields(&mut conn)
        .await
        .unwrap()
        .is_empty()
    {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    eprintln!(
        "background purge finished after {:?}",
        purge_started.elapsed()
    );
}
