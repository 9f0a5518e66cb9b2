//! `crm.contact.list` over real HTTP: ordering by custom fields (with paging across pages of
//! 50) and the filter forms for "has a value", "has none", `@` and `!@`.

use std::cmp::Ordering;

use serde_json::{Value, json};

use crate::contacts::{contact_add, item_ids};
use crate::userfields::add;
use crate::utils::TestServer;

async fn server() -> TestServer {
    TestServer::start_with(&["--languages", "en", "--utc-offset", "+03:00"]).await
}

fn ids_of(result: &Value) -> Vec<i64> {
    result
        .as_array()
        .unwrap_or_else(|| panic!("a list: {result}"))
        .iter()
        .map(|c| c["ID"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Every id `crm.contact.list` returns for `params`, following `next` page by page.
async fn all_pages(server: &TestServer, params: Value) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut start = 0;
    loop {
        let mut page = params.clone();
        page["start"] = json!(start);
        let (status, body) = server.call("crm.contact.list", page).await;
        assert_eq!(status, 200, "{body}");
        ids.extend(ids_of(&body["result"]));
        match body.get("next") {
            Some(next) => start = next.as_i64().unwrap(),
            None => return ids,
        }
    }
}

/// A sort key as the server must compare it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Number(i64),
    Text(String),
}

/// One contact of the ordering test: its id and the keys of the fields in [`ORDERED`].
struct Row {
    id: i64,
    keys: Vec<Option<Key>>,
}

/// The fields ordered by, in the order of `Row::keys`.
const ORDERED: [&str; 4] = ["UF_CRM_AGE", "UF_CRM_NICK", "UF_CRM_BDAY", "UF_CRM_COLOR"];

/// No value first when ascending, last when descending (MySQL's NULL placement); ties by id.
fn expected(rows: &[Row], keys: &[(usize, bool)]) -> Vec<i64> {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by(|a, b| {
        keys.iter()
            .map(|(k, ascending)| {
                let order = a.keys[*k].cmp(&b.keys[*k]);
                if *ascending { order } else { order.reverse() }
            })
            .find(|o| *o != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
            .then(a.id.cmp(&b.id))
    });
    sorted.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn list_orders_by_custom_fields_across_pages() {
    let server = server().await;
    add(
        &server,
        json!({"FIELD_NAME": "AGE", "USER_TYPE_ID": "integer"}),
    )
    .await;
    add(
        &server,
        json!({"FIELD_NAME": "NICK", "USER_TYPE_ID": "string"}),
    )
    .await;
    add(
        &server,
        json!({"FIELD_NAME": "BDAY", "USER_TYPE_ID": "date"}),
    )
    .await;
    // Twelve items, so that item ids cross from one digit to two (9 < 10 as numbers only).
    let list: Vec<Value> = (0..12).map(|i| json!({"VALUE": format!("c{i}")})).collect();
    let color = add(
        &server,
        json!({"FIELD_NAME": "COLOR", "USER_TYPE_ID": "enumeration",
        "LIST": list}),
    )
    .await;
    let items = item_ids(&server, color).await;
    assert!(
        items.iter().any(|i| *i < 10) && items.iter().any(|i| *i >= 10),
        "{items:?}"
    );

    let nicks = [
        "apple", "Banana", "cherry", "apple", "Zed", "éclair", "banana", "10", "9",
    ];
    let mut rows = Vec::new();
    for n in 0..60_i64 {
        let age = (n % 7 != 3).then(|| {
            if n % 10 == 0 {
                n * 100
            } else {
                (n * 37) % 23 - 5
            }
        });
        let nick = (n % 5 != 1).then(|| nicks[n as usize % nicks.len()].to_string());
        let bday = (n % 6 != 2).then(|| {
            format!(
                "{}-{:02}-{:02}",
                1950 + (n * 13) % 70,
                n % 12 + 1,
                n % 28 + 1
            )
        });
        let color = (n % 8 != 5).then(|| items[(n as usize * 5) % items.len()]);
        let id = contact_add(
            &server,
            json!({
                "NAME": format!("C{n}"), "UF_CRM_AGE": age, "UF_CRM_NICK": nick,
                "UF_CRM_BDAY": bday, "UF_CRM_COLOR": color,
            }),
        )
        .await;
        rows.push(Row {
            id,
            keys: vec![
                age.map(Key::Number),
                nick.map(Key::Text),
                bday.map(Key::Text),
                color.map(Key::Number),
            ],
        });
    }

    for (k, field) in ORDERED.iter().enumerate() {
        for (direction, ascending) in [
            ("ASC", true),
            ("DESC", false),
            ("desc", false),
            ("asc", true),
        ] {
            let params = json!({"order": {*field: direction}, "select": ["ID"]});
            let got = all_pages(&server, params).await;
            assert_eq!(
                got,
                expected(&rows, &[(k, ascending)]),
                "{field} {direction}"
            );
        }
    }

    // Two custom keys, then ID.
    let params = json!({"order": {"UF_CRM_NICK": "Desc", "UF_CRM_AGE": "ASC"}, "select": ["ID"]});
    assert_eq!(
        all_pages(&server, params).await,
        expected(&rows, &[(1, false), (0, true)])
    );

    // The form encoding of the same request, page by page.
    let want = expected(&rows, &[(3, false)]);
    for (start, slice) in [(0, &want[..50]), (50, &want[50..])] {
        let url = format!(
            "{}crm.contact.list?order[UF_CRM_COLOR]=DESC&select[]=ID&start={start}",
            server.webhook_url
        );
        let (status, body) = server.get(&url).await;
        assert_eq!((status, &body["total"]), (200, &json!(60)), "{body}");
        assert_eq!(ids_of(&body["result"]), slice, "start={start}");
    }

    // A filter and an order together: one page, counted.
    let params = json!({"filter": {"!UF_CRM_AGE": ""}, "order": {"UF_CRM_AGE": "DESC"}, "select": ["ID", "UF_CRM_AGE"]});
    let (_, body) = server.call("crm.contact.list", params).await;
    let with_age: Vec<&Row> = rows.iter().filter(|r| r.keys[0].is_some()).collect();
    assert_eq!(body["total"], json!(with_age.len()));
    assert_eq!(body["result"][0]["UF_CRM_AGE"], json!(5000));
}

#[tokio::test]
async fn list_filters_on_having_a_value_and_on_lists() {
    let server = server().await;
    add(
        &server,
        json!({"FIELD_NAME": "AGE", "USER_TYPE_ID": "integer"}),
    )
    .await;
    add(
        &server,
        json!({"FIELD_NAME": "TAGS", "USER_TYPE_ID": "integer", "MULTIPLE": "Y"}),
    )
    .await;
    add(
        &server,
        json!({"FIELD_NAME": "FLAG", "USER_TYPE_ID": "boolean"}),
    )
    .await;
    add(
        &server,
        json!({"FIELD_NAME": "BDAY", "USER_TYPE_ID": "date"}),
    )
    .await;
    let color = add(
        &server,
        json!({"FIELD_NAME": "COLOR", "USER_TYPE_ID": "enumeration",
        "LIST": [{"VALUE": "red"}, {"VALUE": "blue"}]}),
    )
    .await;
    let items = item_ids(&server, color).await;
    let (red, blue) = (items[0], items[1]);
    let c1 = contact_add(
        &server,
        json!({"NAME": "Ann", "UF_CRM_AGE": 5, "UF_CRM_TAGS": [1, 2],
        "UF_CRM_FLAG": "Y", "UF_CRM_COLOR": red, "UF_CRM_BDAY": "1990-05-17"}),
    )
    .await;
    let c2 = contact_add(
        &server,
        json!({"NAME": "Bob", "UF_CRM_AGE": 40, "UF_CRM_TAGS": [3],
        "UF_CRM_FLAG": "N", "UF_CRM_COLOR": blue, "UF_CRM_BDAY": "2001-01-02"}),
    )
    .await;
    let c3 = contact_add(&server, json!({"LAST_NAME": "Nobody"})).await;
    let c4 = contact_add(
        &server,
        json!({"NAME": "Dan", "UF_CRM_AGE": 7, "UF_CRM_TAGS": [2, 4],
        "UF_CRM_COLOR": red}),
    )
    .await;
    let all = vec![c1, c2, c3, c4];

    let cases: Vec<(Value, Vec<i64>)> = vec![
        // Has a value, has none.
        (json!({"!UF_CRM_AGE": null}), vec![c1, c2, c4]),
        (json!({"!UF_CRM_AGE": ""}), vec![c1, c2, c4]),
        (json!({"UF_CRM_AGE": ""}), vec![c3]),
        (json!({"UF_CRM_AGE": false}), vec![c3]),
        (json!({"UF_CRM_AGE": null}), vec![c3]),
        (json!({"=UF_CRM_BDAY": ""}), vec![c3, c4]),
        (json!({"!UF_CRM_TAGS": ""}), vec![c1, c2, c4]),
        (json!({"UF_CRM_COLOR": ""}), vec![c3]),
        (json!({"NAME": ""}), vec![c3]),
        (json!({"!NAME": ""}), vec![c1, c2, c4]),
        // In a list, not in a list; a bare list means "in".
        (json!({"@UF_CRM_AGE": [5, "40"]}), vec![c1, c2]),
        (json!({"!@UF_CRM_AGE": [5, 40]}), vec![c3, c4]),
        (json!({"UF_CRM_AGE": [5, 7]}), vec![c1, c4]),
        (json!({"@UF_CRM_AGE": 7}), vec![c4]),
        (json!({"@UF_CRM_AGE": []}), vec![]),
        (json!({"!@UF_CRM_AGE": []}), all.clone()),
        (
            json!({"@UF_CRM_BDAY": ["1990-05-17", "2001-01-02T10:00:00+03:00"]}),
            vec![c1, c2],
        ),
        (json!({"@ID": [c1, c3]}), vec![c1, c3]),
        (json!({"!@ID": [c1, c3]}), vec![c2, c4]),
        (json!({"@NAME": ["Ann", "Dan", "Eve"]}), vec![c1, c4]),
        (json!({"!@NAME": ["Ann"]}), vec![c2, c3, c4]),
        (
            json!({"@UF_CRM_COLOR": [red, blue.to_string()]}),
            vec![c1, c2, c4],
        ),
        (json!({"!@UF_CRM_COLOR": [red]}), vec![c2, c3]),
        (json!({"UF_CRM_COLOR": red}), vec![c1, c4]),
        // A multiple field matches through any of its values; negations through none.
        (json!({"UF_CRM_TAGS": 2}), vec![c1, c4]),
        (json!({"@UF_CRM_TAGS": [3, 4]}), vec![c2, c4]),
        (json!({"!UF_CRM_TAGS": 2}), vec![c2, c3]),
        (json!({"!@UF_CRM_TAGS": [2, 3]}), vec![c3]),
        (json!({">UF_CRM_TAGS": 3}), vec![c4]),
        (json!({"!=UF_CRM_AGE": 5}), vec![c2, c3, c4]),
        // A boolean without a value counts as 0.
        (json!({"UF_CRM_FLAG": "Y"}), vec![c1]),
        (json!({"UF_CRM_FLAG": 0}), vec![c2, c3, c4]),
        (json!({"UF_CRM_FLAG": false}), vec![c2, c3, c4]),
        (json!({"!UF_CRM_FLAG": "N"}), vec![c1]),
        (json!({"@UF_CRM_FLAG": [0, 1]}), all.clone()),
        // Values the type cannot read match nothing (everything when negated).
        (json!({"UF_CRM_AGE": "abc"}), vec![]),
        (json!({"!UF_CRM_AGE": "abc"}), all.clone()),
        (json!({"UF_CRM_COLOR": 999}), vec![]),
        // Conditions combine.
        (json!({"<=UF_CRM_AGE": 7, "!@ID": [c4]}), vec![c1]),
    ];
    for (filter, want) in cases {
        let params = json!({"filter": filter, "select": ["ID"]});
        let (status, body) = server.call("crm.contact.list", params).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (ids_of(&body["result"]), &body["total"]),
            (want.clone(), &json!(want.len())),
            "{filter}"
        );
    }

    // The same in the form encoding.
    for (query, want) in [
        (
            "filter[@UF_CRM_AGE][]=5&filter[@UF_CRM_AGE][]=40",
            vec![c1, c2],
        ),
        (
            "filter[!@UF_CRM_TAGS][0]=2&filter[!@UF_CRM_TAGS][1]=3",
            vec![c3],
        ),
        ("filter[!UF_CRM_AGE]=", vec![c1, c2, c4]),
        ("filter[UF_CRM_AGE]=", vec![c3]),
    ] {
        let url = format!("{}crm.contact.list?{query}&select[]=ID", server.webhook_url);
        let (status, body) = server.get(&url).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids_of(&body["result"]), want, "{query}");
    }
}
