//! The offline queue: recording with merge and echo suppression, `event.offline.*`.

use b24lite_store::events::{self, NewEvent};
use serde_json::{Value, json};

use crate::utils::TestServer;

/// Records a field event in the server's store, as a change by user 1 from `source` would.
async fn fire(server: &TestServer, name: &str, field_id: i64, source: Option<i64>) {
    let url = server.database.url().unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            server.data_dir.path().join("b24lite.db").display()
        )
    });
    let store = b24lite_store::Store::open(&url).await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let event = NewEvent {
        name: name.into(),
        data: json!({"FIELDS": {"ID": field_id, "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": format!("UF_CRM_F{field_id}")}}),
        user_id: Some(1),
        request_id: b24lite_store::random::hex(16),
        auth_connector: None,
        app_id: source,
        event_ttl: events::EVENT_TTL,
    };
    events::record(&mut tx, &event, 1_800_000_000)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    store.close().await;
}

fn names(events: &Value) -> Vec<&str> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EVENT_NAME"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn queue_merges_reserves_clears_and_flags() {
    let server = TestServer::start().await;
    let app = server.install_app("crm", &["--user", "1"]);
    let (token, _) = (app.access_token, app.id);
    for event in ["ONCRMCONTACTUSERFIELDADD", "ONCRMCONTACTUSERFIELDUPDATE"] {
        let bind = json!({"event": event, "event_type": "offline"});
        assert_eq!(
            server.app_call(&token, "event.bind", bind).await.1["result"],
            json!(true)
        );
    }
    fire(&server, "ONCRMCONTACTUSERFIELDADD", 7, None).await;
    fire(&server, "ONCRMCONTACTUSERFIELDUPDATE", 7, None).await;
    fire(&server, "ONCRMCONTACTUSERFIELDUPDATE", 7, None).await;

    let (status, body) = server
        .app_call(&token, "event.offline.list", json!({}))
        .await;
    assert_eq!(
        (status, &body["total"]),
        (200, &json!(2)),
        "repeated UPDATEs of one field merge: {body}"
    );
    let first = &body["result"][0];
    assert_eq!(
        first["EVENT_DATA"],
        json!({"FIELDS": {"ID": 7, "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": "UF_CRM_F7"}})
    );
    assert_eq!(
        (
            &first["PROCESS_ID"],
            &first["ERROR"],
            &first["EVENT_ADDITIONAL"]
        ),
        (&json!(""), &json!("0"), &json!({"user_id": "1"}))
    );
    assert!(first["ID"].is_string() && first["MESSAGE_ID"].as_str().unwrap().len() == 32);

    let (_, body) = server
        .app_call(&token, "event.offline.get", json!({"clear": 0}))
        .await;
    let process = body["result"]["process_id"].as_str().unwrap().to_string();
    assert_eq!(
        names(&body["result"]["events"]),
        ["ONCRMCONTACTUSERFIELDADD", "ONCRMCONTACTUSERFIELDUPDATE"]
    );
    assert!(body["result"]["events"][0].get("PROCESS_ID").is_none());
    let (_, again) = server
        .app_call(&token, "event.offline.get", json!({"clear": 0}))
        .await;
    assert_eq!(
        again["result"]["events"],
        json!([]),
        "reserved records are hidden from other readers"
    );

    let add_message = body["result"]["events"][0]["MESSAGE_ID"].clone();
    let update_message = body["result"]["events"][1]["MESSAGE_ID"].clone();
    let clear = json!({"process_id": process, "message_id": [add_message]});
    assert_eq!(
        server
            .app_call(&token, "event.offline.clear", clear)
            .await
            .1["result"],
        json!(true)
    );
    let error = json!({"process_id": process, "message_id": [update_message]});
    assert_eq!(
        server
            .app_call(&token, "event.offline.error", error)
            .await
            .1["result"],
        json!(true)
    );
    let (_, listed) = server
        .app_call(&token, "event.offline.list", json!({}))
        .await;
    assert_eq!(
        (
            listed["total"].clone(),
            listed["result"][0]["ERROR"].clone()
        ),
        (json!(1), json!("1"))
    );

    let (_, plain) = server
        .app_call(&token, "event.offline.get", json!({}))
        .await;
    assert_eq!(plain["result"], json!({"process_id": null, "events": []}));
    let (_, errors) = server
        .app_call(&token, "event.offline.get", json!({"error": 1}))
        .await;
    assert_eq!(
        names(&errors["result"]["events"]),
        ["ONCRMCONTACTUSERFIELDUPDATE"]
    );
    assert_eq!(errors["result"]["process_id"], Value::Null);
    let (_, listed) = server
        .app_call(&token, "event.offline.list", json!({}))
        .await;
    assert_eq!(
        listed["total"],
        json!(0),
        "clear=1 deleted what it returned"
    );
}

#[tokio::test]
async fn own_changes_do_not_echo_and_filters_apply() {
    let server = TestServer::start().await;
    let app = server.install_app("crm", &["--user", "1"]);
    let (token, app_id) = (app.access_token, app.id);
    server
        .app_call(
            &token,
            "event.bind",
            json!({"event": "ONCRMCONTACTUSERFIELDADD", "event_type": "offline"}),
        )
        .await;
    fire(&server, "ONCRMCONTACTUSERFIELDADD", 1, Some(app_id)).await;
    fire(&server, "ONCRMCONTACTUSERFIELDADD", 2, None).await;
    fire(&server, "ONCRMCONTACTUSERFIELDADD", 3, None).await;
    let (_, listed) = server
        .app_call(
            &token,
            "event.offline.list",
            json!({"order": {"ID": "DESC"}}),
        )
        .await;
    assert_eq!(
        listed["total"],
        json!(2),
        "the application's own change is not queued for it"
    );
    let ids: Vec<i64> = listed["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EVENT_DATA"]["FIELDS"]["ID"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [3, 2]);
    let newest = listed["result"][0]["ID"].as_str().unwrap().to_string();
    let (_, got) = server
        .app_call(
            &token,
            "event.offline.get",
            json!({"filter": {">=ID": newest}, "limit": 10}),
        )
        .await;
    assert_eq!(got["result"]["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn offline_methods_errors() {
    let server = TestServer::start().await;
    let app = server.install_app("crm", &["--user", "1"]);
    let (token, _) = (app.access_token, app.id);
    let (status, body) = server
        .app_call(&token, "event.offline.get", json!({"limit": 0}))
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "ERROR_ARGUMENT", "error_description": "Value must be positive integer", "argument": "LIMIT"})
        )
    );
    let (status, body) = server
        .app_call(&token, "event.offline.clear", json!({}))
        .await;
    assert_eq!((status, body), (400, process_missing()));

    let argument = |name: &str, description: &str| json!({"error": "ERROR_ARGUMENT", "error_description": description, "argument": name});
    let message_ids = argument("message_id", "Value must be array of MESSAGE_ID values");
    let integers = argument("id", "Value must be array of integers");
    let cases = [
        (
            "event.offline.error",
            json!({"message_id": ["x"]}),
            &process_missing(),
        ),
        (
            "event.offline.error",
            json!({"process_id": "p"}),
            &message_ids,
        ),
        (
            "event.offline.error",
            json!({"process_id": "p", "message_id": "x"}),
            &message_ids,
        ),
        (
            "event.offline.clear",
            json!({"process_id": "p", "message_id": "x"}),
            &message_ids,
        ),
        (
            "event.offline.clear",
            json!({"process_id": "p", "message_id": ["short"]}),
            &message_ids,
        ),
        (
            "event.offline.clear",
            json!({"process_id": "p", "id": [1, 0]}),
            &integers,
        ),
        (
            "event.offline.clear",
            json!({"process_id": "p", "id": "7"}),
            &integers,
        ),
    ];
    for (method, params, expected) in cases {
        let answer = server.app_call(&token, method, params.clone()).await;
        assert_eq!(answer, (400, expected.clone()), "{method} {params}");
    }
    // An empty list flags nothing and succeeds.
    let empty = json!({"process_id": "p", "message_id": []});
    let (status, body) = server.app_call(&token, "event.offline.error", empty).await;
    assert_eq!((status, &body["result"]), (200, &json!(true)));

    server.cli(&["user", "add", "--name", "Bob"]);
    let app = server.install_app("crm", &[]);
    let user_token = server.user_token(&app, 2).await;
    for method in [
        "event.offline.get",
        "event.offline.list",
        "event.offline.clear",
        "event.offline.error",
    ] {
        let (status, body) = server
            .app_call(&user_token, method, json!({"process_id": "x"}))
            .await;
        assert_eq!(
            (status, body),
            (
                403,
                json!({"error": "ACCESS_DENIED", "error_description": "Access denied!"})
            ),
            "{method}"
        );
    }
    let (status, body) = server.call("event.offline.get", json!({})).await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"error": "WRONG_AUTH_TYPE", "error_description": "Current authorization type is denied for this method"})
        )
    );
}

fn process_missing() -> Value {
    json!({"error": "ERROR_ARGUMENT", "error_description": "Argument 'PROCESS_ID' is null or empty", "argument": "PROCESS_ID"})
}

/// `event.offline.get` with a `process_id` re-reads that process: at most `limit` records, and
/// only those with the requested `error` flag.
#[tokio::test]
async fn a_process_is_reread_by_limit_and_error_flag() {
    let server = TestServer::start().await;
    let token = server.install_app("crm", &["--user", "1"]).access_token;
    let bind = json!({"event": "ONCRMCONTACTUSERFIELDADD", "event_type": "offline"});
    server.app_call(&token, "event.bind", bind).await;
    for field in 1..=3 {
        fire(&server, "ONCRMCONTACTUSERFIELDADD", field, None).await;
    }
    let get = async |params: Value| {
        let (status, body) = server.app_call(&token, "event.offline.get", params).await;
        assert_eq!(status, 200, "{body}");
        body["result"].clone()
    };
    let field_ids = |result: &Value| -> Vec<i64> {
        result["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["EVENT_DATA"]["FIELDS"]["ID"].as_i64().unwrap())
            .collect()
    };

    let reserved = get(json!({"clear": 0})).await;
    let process = reserved["process_id"].as_str().unwrap().to_string();
    assert_eq!(field_ids(&reserved), [1, 2, 3]);
    let reread = get(json!({"clear": 0, "process_id": process, "limit": 2})).await;
    assert_eq!(field_ids(&reread), [1, 2]);
    assert_eq!(reread["process_id"], json!(process));

    // A flagged record leaves the process; reserved with `error=1` it is re-read only so.
    let first = reserved["events"][0]["MESSAGE_ID"].clone();
    let flag = json!({"process_id": process, "message_id": [first]});
    server.app_call(&token, "event.offline.error", flag).await;
    let errors = get(json!({"clear": 0, "error": 1})).await;
    let error_process = errors["process_id"].as_str().unwrap().to_string();
    assert_eq!(field_ids(&errors), [1]);
    let plain = get(json!({"clear": 0, "process_id": error_process})).await;
    assert_eq!(field_ids(&plain), Vec::<i64>::new());
    let flagged = get(json!({"clear": 0, "process_id": error_process, "error": 1})).await;
    assert_eq!(field_ids(&flagged), [1]);
    assert_eq!(
        field_ids(&get(json!({"process_id": process})).await),
        [2, 3]
    );
}

/// Records live about 34 days (2,952,000 s) whatever their state; a reader never sees older ones.
#[tokio::test]
async fn records_expire_after_34_days() {
    let server = TestServer::start_with(&["--allow-clock-control"]).await;
    let app = server.install_app("crm", &["--user", "1"]);
    let bind = json!({"event": "ONCRMCONTACTUSERFIELDADD", "event_type": "offline"});
    server.app_call(&app.access_token, "event.bind", bind).await;
    for name in ["OLD_A", "OLD_B"] {
        let fields = json!({"fields": {"FIELD_NAME": name, "USER_TYPE_ID": "string"}});
        let (status, body) = server.call("crm.contact.userfield.add", fields).await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, reserved) = server
        .app_call(
            &app.access_token,
            "event.offline.get",
            json!({"clear": 0, "limit": 1}),
        )
        .await;
    assert_eq!(reserved["result"]["events"].as_array().unwrap().len(), 1);

    // The access token does not live that long: each step refreshes it.
    let mut refresh_token = app.tokens["refresh_token"].as_str().unwrap().to_string();
    let mut total_after = async |seconds: i64| {
        let advance = json!({"seconds": seconds});
        let (status, _) = server
            .admin("POST", "/admin/clock/advance", Some(advance))
            .await;
        assert_eq!(status, 200);
        let url = format!(
            "{}/oauth/token/?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={refresh_token}",
            server.base_url, app.client_id, app.client_secret
        );
        let (_, fresh) = server.get(&url).await;
        refresh_token = fresh["refresh_token"].as_str().unwrap().to_string();
        let token = fresh["access_token"].as_str().unwrap();
        let (status, listed) = server
            .app_call(token, "event.offline.list", json!({}))
            .await;
        assert_eq!(status, 200, "{listed}");
        listed["total"].clone()
    };
    assert_eq!(total_after(2_952_000 - 60).await, json!(2));
    assert_eq!(
        total_after(120).await,
        json!(0),
        "the reserved one goes too"
    );
}
