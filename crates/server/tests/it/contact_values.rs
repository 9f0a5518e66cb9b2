//! Custom-field values on `crm.contact.add/update` over real HTTP: every accepted write form
//! of every type, values a type cannot convert refused with the whole change (nothing
//! written), and doubles rounded to their PRECISION.

use serde_json::{Value, json};

use crate::contacts::{contact_get, item_ids};
use crate::userfields::{add, err, ok, open_store};
use crate::utils::TestServer;

async fn server() -> TestServer {
    TestServer::start_with(&["--languages", "en,de", "--utc-offset", "+03:00"]).await
}

async fn update(server: &TestServer, id: i64, fields: Value) -> (u16, Value) {
    server
        .call("crm.contact.update", json!({"id": id, "fields": fields}))
        .await
}

/// The ids of a field's list items, in order, as the API writes them.
async fn item_texts(server: &TestServer, field: i64) -> Vec<String> {
    let ids = item_ids(server, field).await;
    ids.iter().map(i64::to_string).collect()
}

/// One field of each type the checks cover; returns the ids of COLOR's items and of OTHER's.
async fn add_fields(server: &TestServer) -> (Vec<String>, Vec<String>) {
    let labelled = |name: &str, kind: &str, label: &str| json!({"FIELD_NAME": name, "USER_TYPE_ID": kind, "EDIT_FORM_LABEL": {"en": label}});
    for fields in [
        labelled("BDAY", "date", "Birthday"),
        labelled("SEEN", "datetime", "Last seen"),
        labelled("AGE", "integer", "Age"),
        labelled("PRICE", "double", "Price"),
        labelled("VIP", "boolean", "VIP"),
        labelled("NOTE", "string", "Note"),
        labelled("BUDGET", "money", "Budget"),
        labelled("LINK", "crm", "Link"),
        labelled("BOSS", "employee", "Boss"),
        labelled("DOC", "file", "Document"),
        json!({"FIELD_NAME": "TAGS", "USER_TYPE_ID": "integer", "MULTIPLE": "Y"}),
    ] {
        add(server, fields).await;
    }
    let color = add(
        server,
        json!({"FIELD_NAME": "COLOR", "USER_TYPE_ID": "enumeration",
        "EDIT_FORM_LABEL": {"en": "Color"}, "LIST": [{"VALUE": "red"}, {"VALUE": "blue"}]}),
    )
    .await;
    let other = add(
        server,
        json!({"FIELD_NAME": "OTHER", "USER_TYPE_ID": "enumeration",
        "LIST": [{"VALUE": "x"}]}),
    )
    .await;
    (
        item_texts(server, color).await,
        item_texts(server, other).await,
    )
}

fn message(label: &str, end: &str) -> String {
    format!("The value of the \"{label}\" field {end}.")
}

#[tokio::test]
async fn values_a_type_cannot_convert_are_refused_and_nothing_is_written() {
    let server = server().await;
    let (colors, other) = add_fields(&server).await;
    let good = json!({
        "NAME": "Ann", "UF_CRM_BDAY": "1990-05-17", "UF_CRM_SEEN": "2024-08-22T10:30:00+03:00",
        "UF_CRM_AGE": 34, "UF_CRM_PRICE": 2.5, "UF_CRM_VIP": "Y", "UF_CRM_NOTE": "hello",
        "UF_CRM_BUDGET": "300|EUR", "UF_CRM_LINK": "C_2", "UF_CRM_BOSS": 1,
        "UF_CRM_DOC": {"fileData": ["a.txt", "aGVsbG8="]}, "UF_CRM_TAGS": [1, 2],
        "UF_CRM_COLOR": colors[0],
    });
    let id = ok(server
        .call("crm.contact.add", json!({"fields": good}))
        .await)
    .as_i64()
    .unwrap();
    let before = contact_get(&server, id).await;
    assert_eq!(
        (
            &before["UF_CRM_BDAY"],
            &before["UF_CRM_AGE"],
            &before["UF_CRM_COLOR"]
        ),
        (
            &json!("1990-05-17T03:00:00+03:00"),
            &json!(34),
            &json!(colors[0])
        )
    );

    let age = |end: &str| message("Age", end);
    let cases: Vec<(Value, String)> = vec![
        (
            json!({"UF_CRM_BDAY": "1990-13-45"}),
            message("Birthday", "is not a valid date"),
        ),
        (
            json!({"UF_CRM_BDAY": "2020-02-30"}),
            message("Birthday", "is not a valid date"),
        ),
        (
            json!({"UF_CRM_BDAY": "17.05.1990"}),
            message("Birthday", "is not a valid date"),
        ),
        (
            json!({"UF_CRM_BDAY": "10000-01-01"}),
            message("Birthday", "is not a valid date"),
        ),
        (
            json!({"UF_CRM_SEEN": "yesterday"}),
            message("Last seen", "is not a valid date and time"),
        ),
        (
            json!({"UF_CRM_SEEN": "2024-08-22T25:00:00+03:00"}),
            message("Last seen", "is not a valid date and time"),
        ),
        (
            json!({"UF_CRM_PRICE": "NaN"}),
            message("Price", "is not a number"),
        ),
        (
            json!({"UF_CRM_PRICE": "1,5"}),
            message("Price", "is not a number"),
        ),
        (
            json!({"UF_CRM_PRICE": "inf"}),
            message("Price", "is not a number"),
        ),
        (
            json!({"UF_CRM_PRICE": "1e999"}),
            message("Price", "is out of range"),
        ),
        (json!({"UF_CRM_AGE": "abc"}), age("is not an integer")),
        (json!({"UF_CRM_AGE": "12abc"}), age("is not an integer")),
        (json!({"UF_CRM_AGE": 1e300}), age("is out of range")),
        (
            json!({"UF_CRM_AGE": "9223372036854775808"}),
            age("is out of range"),
        ),
        (json!({"UF_CRM_AGE": [[1]]}), age("is not an integer")),
        (
            json!({"UF_CRM_COLOR": other[0]}),
            message("Color", "is not an item of its list"),
        ),
        (
            json!({"UF_CRM_COLOR": 999}),
            message("Color", "is not an item of its list"),
        ),
        (
            json!({"UF_CRM_COLOR": "red"}),
            message("Color", "is not an item of its list"),
        ),
        (
            json!({"UF_CRM_NOTE": {"a": 1}}),
            message("Note", "is not a string"),
        ),
        (
            json!({"UF_CRM_VIP": "maybe"}),
            message("VIP", "is not a boolean (Y/N, 1/0, true/false)"),
        ),
        (
            json!({"UF_CRM_BUDGET": "lots|EUR"}),
            message("Budget", "is not a valid amount"),
        ),
        (
            json!({"UF_CRM_LINK": "hello"}),
            message("Link", "is not a valid CRM element ID"),
        ),
        (
            json!({"UF_CRM_BOSS": "boss"}),
            message("Boss", "is not a valid ID"),
        ),
        (
            json!({"UF_CRM_BOSS": -1}),
            message("Boss", "is not a valid ID"),
        ),
        (
            json!({"UF_CRM_DOC": {"fileData": ["b.txt", "not base64!"]}}),
            message("Document", "is not a valid file"),
        ),
        (
            json!({"UF_CRM_DOC": "abc"}),
            message("Document", "is not a valid file"),
        ),
        // A field without a label is named by its FIELD_NAME.
        (
            json!({"UF_CRM_TAGS": [3, "x"]}),
            message("UF_CRM_TAGS", "is not an integer"),
        ),
        // The whole change is refused: the valid parts are not written either.
        (
            json!({"NAME": "Bob", "UF_CRM_NOTE": "changed", "UF_CRM_AGE": "x"}),
            age("is not an integer"),
        ),
        (
            json!({"UF_CRM_DOC": {"fileData": ["c.txt", "aGk="]}, "UF_CRM_AGE": "x"}),
            age("is not an integer"),
        ),
        // Every message, in field order, one per line.
        (
            json!({"UF_CRM_AGE": "x", "UF_CRM_BDAY": "x", "UF_CRM_COLOR": 999}),
            [
                message("Birthday", "is not a valid date"),
                age("is not an integer"),
                message("Color", "is not an item of its list"),
            ]
            .join("\n"),
        ),
    ];
    for (fields, description) in cases {
        let answer = update(&server, id, fields.clone()).await;
        err(answer, 400, "", &description);
        assert_eq!(
            contact_get(&server, id).await,
            before,
            "after {fields}: the contact is unchanged"
        );
    }

    // crm.contact.add refuses the same way, and creates nothing.
    let bad = json!({"fields": {"NAME": "Cy", "UF_CRM_BDAY": "2020-02-30"}});
    err(
        server.call("crm.contact.add", bad).await,
        400,
        "",
        &message("Birthday", "is not a valid date"),
    );
    let (_, listed) = server.call("crm.contact.list", json!({})).await;
    assert_eq!(listed["total"], 1, "{listed}");
    let store = open_store(&server).await;
    let mut conn = store.pool().acquire().await.unwrap();
    let second = b24lite_store::contacts::get_file(&mut conn, 2)
        .await
        .unwrap();
    assert!(second.is_none(), "a refused change stores no upload");
}

#[tokio::test]
async fn messages_of_invalid_and_missing_mandatory_values_are_collected() {
    let server = server().await;
    add(
        &server,
        json!({"FIELD_NAME": "MUST", "USER_TYPE_ID": "string", "MANDATORY": "Y",
        "EDIT_FORM_LABEL": {"en": "Must have"}, "SORT": 10}),
    )
    .await;
    add(
        &server,
        json!({"FIELD_NAME": "AGE", "USER_TYPE_ID": "integer", "SORT": 20}),
    )
    .await;
    err(
        server
            .call("crm.contact.add", json!({"fields": {"UF_CRM_AGE": "old"}}))
            .await,
        400,
        "",
        "The \"Must have\" field is required.\nThe value of the \"UF_CRM_AGE\" field is not an integer.",
    );
}

/// `(type, settings, value sent, value read)`: every write form decision 19 and
/// `userfields.md` §8.1 accept, and the empty values that clear a field.
fn accepted(items: &[String]) -> Vec<(&'static str, Value, Value, Value)> {
    let item = || items[0].clone();
    let s = json!({});
    vec![
        ("boolean", s.clone(), json!(1), json!("1")),
        ("boolean", s.clone(), json!(0), json!("0")),
        ("boolean", s.clone(), json!("1"), json!("1")),
        ("boolean", s.clone(), json!("0"), json!("0")),
        ("boolean", s.clone(), json!("Y"), json!("1")),
        ("boolean", s.clone(), json!("N"), json!("0")),
        ("boolean", s.clone(), json!("y"), json!("1")),
        ("boolean", s.clone(), json!(true), json!("1")),
        ("boolean", s.clone(), json!(false), json!("0")),
        ("boolean", s.clone(), json!("true"), json!("1")),
        ("boolean", s.clone(), json!("FALSE"), json!("0")),
        ("boolean", s.clone(), json!(""), json!("0")),
        ("integer", s.clone(), json!(42), json!(42)),
        ("integer", s.clone(), json!("42"), json!(42)),
        ("integer", s.clone(), json!(" -7 "), json!(-7)),
        ("integer", s.clone(), json!("+5"), json!(5)),
        ("integer", s.clone(), json!("4.2e1"), json!(42)),
        ("integer", s.clone(), json!(42.9), json!(42)),
        ("integer", s.clone(), json!(["8"]), json!(8)),
        ("integer", s.clone(), json!({"0": "9"}), json!(9)),
        (
            "integer",
            s.clone(),
            json!("9223372036854775807"),
            json!(i64::MAX),
        ),
        ("integer", s.clone(), json!(""), json!(null)),
        ("integer", s.clone(), json!(i64::MIN), json!(i64::MIN)),
        ("integer", s.clone(), json!(null), json!(null)),
        ("double", s.clone(), json!(2.5), json!(2.5)),
        ("double", s.clone(), json!("2.5"), json!(2.5)),
        ("double", s.clone(), json!("-1e2"), json!(-100)),
        ("double", s.clone(), json!(".5"), json!(0.5)),
        ("double", s.clone(), json!(3), json!(3)),
        (
            "date",
            s.clone(),
            json!("2024-02-29"),
            json!("2024-02-29T03:00:00+03:00"),
        ),
        (
            "date",
            s.clone(),
            json!("2024-08-21T23:30:00+00:00"),
            json!("2024-08-22T03:00:00+03:00"),
        ),
        (
            "date",
            s.clone(),
            json!("2024-08-22T10:30:00+03:00"),
            json!("2024-08-22T03:00:00+03:00"),
        ),
        ("date", s.clone(), json!(""), json!(null)),
        (
            "datetime",
            s.clone(),
            json!("2024-08-22T07:30:00+00:00"),
            json!("2024-08-22T10:30:00+03:00"),
        ),
        (
            "datetime",
            s.clone(),
            json!("2024-08-22T07:30:00Z"),
            json!("2024-08-22T10:30:00+03:00"),
        ),
        (
            "datetime",
            s.clone(),
            json!("2024-08-22T10:30:00+0300"),
            json!("2024-08-22T10:30:00+03:00"),
        ),
        (
            "datetime",
            s.clone(),
            json!("2024-08-22T10:30:00"),
            json!("2024-08-22T10:30:00+03:00"),
        ),
        (
            "datetime",
            s.clone(),
            json!("2024-08-22 10:30:00"),
            json!("2024-08-22T10:30:00+03:00"),
        ),
        (
            "datetime",
            s.clone(),
            json!("2024-08-22"),
            json!("2024-08-22T00:00:00+03:00"),
        ),
        (
            "enumeration",
            s.clone(),
            json!(item().parse::<i64>().unwrap()),
            json!(item()),
        ),
        ("enumeration", s.clone(), json!(item()), json!(item())),
        (
            "enumeration",
            s.clone(),
            json!(format!(" {} ", item())),
            json!(item()),
        ),
        ("money", s.clone(), json!("300"), json!("300|USD")),
        ("money", s.clone(), json!(300), json!("300|USD")),
        ("money", s.clone(), json!("1.5|eur"), json!("1.5|EUR")),
        ("money", s.clone(), json!("|EUR"), json!(null)),
        ("money", s.clone(), json!("300|USD"), json!("300|USD")),
        ("money", s.clone(), json!("EUR"), json!(null)),
        ("string", s.clone(), json!("hello"), json!("hello")),
        ("string", s.clone(), json!(42), json!("42")),
        (
            "string",
            s.clone(),
            json!(["first", "second"]),
            json!("first"),
        ),
        ("string", s.clone(), json!(false), json!(null)),
        (
            "url",
            s.clone(),
            json!("https://example.com/a"),
            json!("https://example.com/a"),
        ),
        (
            "address",
            s.clone(),
            json!("Berlin|52.5;13.4|575"),
            json!("Berlin|52.5;13.4|575"),
        ),
        (
            "crm_status",
            json!({"ENTITY_TYPE": "INDUSTRY"}),
            json!("IT"),
            json!("IT"),
        ),
        ("employee", s.clone(), json!(1), json!("1")),
        ("employee", s.clone(), json!("1"), json!("1")),
        ("iblock_element", s.clone(), json!(7), json!("7")),
        ("iblock_section", s.clone(), json!("5"), json!("5")),
        ("crm", json!({"CONTACT": "Y"}), json!("C_2"), json!("C_2")),
        ("crm", json!({"COMPANY": "Y"}), json!("CO_3"), json!("CO_3")),
        ("crm", json!({"DEAL": "Y"}), json!("D_1"), json!("D_1")),
        ("crm", json!({"LEAD": "Y"}), json!("L_4"), json!("L_4")),
        ("crm", s.clone(), json!("T80_6"), json!("T80_6")),
        ("crm", s.clone(), json!("SI_7"), json!("SI_7")),
        ("crm", json!({"CONTACT": "Y"}), json!(2), json!("2")),
    ]
}

#[tokio::test]
async fn every_accepted_form_is_still_accepted() {
    let server = server().await;
    let enumeration = add(
        &server,
        json!({"FIELD_NAME": "E", "USER_TYPE_ID": "enumeration",
        "LIST": [{"VALUE": "one"}]}),
    )
    .await;
    let items = item_texts(&server, enumeration).await;
    let id = ok(server
        .call("crm.contact.add", json!({"fields": {"NAME": "Ann"}}))
        .await)
    .as_i64()
    .unwrap();
    let mut made: Vec<(String, String)> = Vec::new();
    for (kind, settings, sent, expected) in accepted(&items) {
        let name = if kind == "enumeration" {
            "UF_CRM_E".to_string()
        } else {
            let key = (kind.to_string(), settings.to_string());
            let index = made.iter().position(|m| *m == key).unwrap_or_else(|| {
                made.push(key);
                made.len() - 1
            });
            format!("UF_CRM_F{index}")
        };
        if !contact_get(&server, id)
            .await
            .as_object()
            .unwrap()
            .contains_key(&name)
        {
            let short = name.trim_start_matches("UF_CRM_");
            add(
                &server,
                json!({"FIELD_NAME": short, "USER_TYPE_ID": kind, "SETTINGS": settings}),
            )
            .await;
        }
        // Empty values follow a value of their type, so they are seen to clear it.
        let answer = update(&server, id, json!({ &name: sent })).await;
        assert_eq!(answer.0, 200, "{kind} {sent}: {}", answer.1);
        let read = contact_get(&server, id).await;
        assert_eq!(read[&name], expected, "{kind} {sent}");
    }

    // Multiple fields: lists (or PHP lists as objects), empty entries dropped; [] clears.
    add(
        &server,
        json!({"FIELD_NAME": "NUMS", "USER_TYPE_ID": "integer", "MULTIPLE": "Y"}),
    )
    .await;
    for (sent, expected) in [
        (json!([1, "2", "", null]), json!([1, 2])),
        (json!({"0": 3, "1": "4"}), json!([3, 4])),
        (json!(5), json!([5])),
        (json!([]), json!([])),
    ] {
        ok(update(&server, id, json!({"UF_CRM_NUMS": sent})).await);
        assert_eq!(
            contact_get(&server, id).await["UF_CRM_NUMS"],
            expected,
            "{sent}"
        );
    }

    // A stored file is kept by its id, as a bare id or {"id": n}.
    add(
        &server,
        json!({"FIELD_NAME": "DOC", "USER_TYPE_ID": "file"}),
    )
    .await;
    let upload = json!({"UF_CRM_DOC": {"fileData": ["a.txt", "aGVsbG8="]}});
    ok(update(&server, id, upload).await);
    let file = contact_get(&server, id).await["UF_CRM_DOC"]["id"].clone();
    for sent in [json!({"id": file}), file.clone(), json!(file.to_string())] {
        ok(update(&server, id, json!({"UF_CRM_DOC": sent})).await);
        assert_eq!(contact_get(&server, id).await["UF_CRM_DOC"]["id"], file);
    }
}

#[tokio::test]
async fn doubles_are_rounded_to_their_precision() {
    let server = server().await;
    add(
        &server,
        json!({"FIELD_NAME": "P2", "USER_TYPE_ID": "double"}),
    )
    .await;
    add(
        &server,
        json!({"FIELD_NAME": "P0", "USER_TYPE_ID": "double", "SETTINGS": {"PRECISION": 0}}),
    )
    .await;
    add(
        &server,
        json!({"FIELD_NAME": "P3", "USER_TYPE_ID": "double", "SETTINGS": {"PRECISION": 3},
        "MULTIPLE": "Y"}),
    )
    .await;
    let fields =
        json!({"UF_CRM_P2": 2.345, "UF_CRM_P0": "2.5", "UF_CRM_P3": ["1.23456", -0.0005, 7]});
    let id = ok(server
        .call("crm.contact.add", json!({"fields": fields}))
        .await)
    .as_i64()
    .unwrap();
    let read = contact_get(&server, id).await;
    assert_eq!(
        (&read["UF_CRM_P2"], &read["UF_CRM_P0"], &read["UF_CRM_P3"]),
        (&json!(2.35), &json!(3), &json!([1.235, -0.001, 7]))
    );
    for (sent, expected) in [
        (json!(1.005), json!(1.01)),
        (json!("-2.675"), json!(-2.68)),
        (json!(9.999), json!(10)),
        (json!(0.1), json!(0.1)),
    ] {
        ok(update(&server, id, json!({"UF_CRM_P2": sent})).await);
        assert_eq!(
            contact_get(&server, id).await["UF_CRM_P2"],
            expected,
            "{sent}"
        );
    }
    ok(update(&server, id, json!({"UF_CRM_P0": -2.5})).await);
    assert_eq!(contact_get(&server, id).await["UF_CRM_P0"], json!(-3));
    // The filter finds the rounded value.
    let (_, found) = server
        .call(
            "crm.contact.list",
            json!({"filter": {"UF_CRM_P2": 0.1}, "select": ["ID"]}),
        )
        .await;
    assert_eq!(found["total"], 1, "{found}");
}
