//! Deliveries to applications' handlers (`event.bind`): the `auth` block with a fresh token of
//! the user behind the change, and the installation gate.

use serde_json::json;

use crate::receiver::Receiver;
use crate::utils::{APP_AUTH_KEYS, TestServer, keys_of};

async fn add_field(server: &TestServer, name: &str) {
    let fields = json!({"fields": {"FIELD_NAME": name, "USER_TYPE_ID": "string"}});
    let (status, body) = server.call("crm.contact.userfield.add", fields).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn application_handlers_get_a_working_token_of_the_user_behind_the_change() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let app = server.install_app("crm", &[]);
    server
        .bind_event(&app.access_token, "ONCRMCONTACTUSERFIELDADD", &receiver.url)
        .await;

    add_field(&server, "FROM_APP_TEST").await;
    let view = receiver.wait_for(1).await[0].decoded();
    assert_eq!(view["event"], "ONCRMCONTACTUSERFIELDADD");
    assert_eq!(view["data"]["FIELDS"]["FIELD_NAME"], "UF_CRM_FROM_APP_TEST");
    let auth = view["auth"].as_object().unwrap();
    let keys: Vec<&str> = auth.keys().map(String::as_str).collect();
    assert_eq!(keys, APP_AUTH_KEYS);
    assert_eq!(auth["application_token"], app.tokens["application_token"]);
    assert_eq!(
        (&auth["user_id"], &auth["scope"], &auth["status"]),
        (&json!("1"), &json!("crm"), &json!("L"))
    );
    assert_eq!(auth["expires_in"], "3600");
    assert_eq!(
        auth["client_endpoint"],
        format!("{}/rest/", server.base_url)
    );

    // The delivered token is a real one of user 1 for this application.
    let token = auth["access_token"].as_str().unwrap();
    let (status, body) = server
        .get(&format!("{}/rest/app.info?auth={token}", server.base_url))
        .await;
    assert_eq!(
        (status, &body["result"]["CODE"]),
        (200, &json!(app.client_id))
    );
}

#[tokio::test]
async fn no_user_no_tokens_and_unfinished_installations_get_nothing() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let finished = server.install_app("crm", &[]);
    let unfinished = server.install_app("crm", &["--ui"]);
    for app in [&finished, &unfinished] {
        let bind = json!({"event": "ONCRMCONTACTUSERFIELDADD", "handler": receiver.url});
        server.app_call(&app.access_token, "event.bind", bind).await;
    }
    // An event no user caused (the CLI, automation) carries no token keys (decision 26).
    let data = json!({"FIELDS": {"ID": 5, "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": "UF_CRM_X"}});
    let mut event = crate::utils::new_event("ONCRMCONTACTUSERFIELDADD", data, "no-user");
    event.user_id = None;
    let store = server.open_store().await;
    let mut tx = store.begin_write().await.unwrap();
    b24lite_store::events::record(&mut tx, &event, b24lite::clock::Clock::default().now())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let view = receiver.wait_for(1).await[0].decoded();
    let keys = keys_of(&view["auth"]);
    assert_eq!(
        keys,
        [
            "scope",
            "domain",
            "server_endpoint",
            "status",
            "client_endpoint",
            "member_id",
            "application_token"
        ]
    );
    assert_eq!(
        view["auth"]["application_token"],
        finished.tokens["application_token"]
    );

    // The application whose installation is unfinished has no pending delivery, only a dropped
    // one whose reason the log shows.
    assert_eq!(receiver.requests().len(), 1);
    let log = server.cli(&["deliveries", "list"]);
    let dropped: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("dropped"))
        .collect();
    assert_eq!(dropped.len(), 1, "{log}");
    // No next attempt is shown for it: none will be made.
    assert!(
        dropped[0].ends_with("\t-\tapplication installation not finished"),
        "{log}"
    );
}

#[tokio::test]
async fn event_test_reaches_only_the_calling_applications_handler() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let caller = server.install_app("crm", &[]);
    let other = server.install_app("crm", &[]);
    for app in [&other, &caller] {
        server
            .bind_event(&app.access_token, "ONAPPTEST", &receiver.url)
            .await;
    }
    let (status, body) = server
        .app_call(
            &caller.access_token,
            "event.test",
            json!({"any": "data", "q": "a*b", "start": 50, "auth_connector": "sync"}),
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(1)));

    let request = &receiver.wait_for(1).await[0];
    // `*` percent-encoded as PHP's encoder does (decision 25); `start` never reaches the
    // method (fact 11), so it is not echoed.
    assert!(
        request
            .text()
            .contains("data%5BQUERY%5D%5Bany%5D=data&data%5BQUERY%5D%5Bq%5D=a%2Ab&data%5BLANGUAGE_ID%5D=en&ts="),
        "{}",
        request.text()
    );
    let view = request.decoded();
    assert_eq!(view["event"], "ONAPPTEST");
    assert_eq!(
        view["data"],
        json!({"QUERY": {"any": "data", "q": "a*b"}, "LANGUAGE_ID": "en"})
    );
    assert_eq!(
        view["auth"]["application_token"],
        caller.tokens["application_token"]
    );
    assert!(
        view["event_handler_id"]
            .as_str()
            .is_some_and(|id| id.parse::<i64>().is_ok())
    );
    let log = server.cli(&["deliveries", "list"]);
    assert_eq!(
        log.lines()
            .filter(|line| line.contains("ONAPPTEST"))
            .count(),
        1,
        "only the caller's handler gets the test event: {log}"
    );
}

/// An application event recorded without the application it is about (a stray `ONAPPTEST`)
/// reaches no one: not every application's handler.
#[tokio::test]
async fn an_application_event_without_its_application_reaches_no_one() {
    let server = TestServer::start().await;
    let app = server.install_app("crm", &[]);
    server
        .bind_event(&app.access_token, "ONAPPTEST", "http://127.0.0.1:9/test")
        .await;
    server
        .record_event("ONAPPTEST", json!({"QUERY": {}}), "stray")
        .await;
    let log = server.cli(&["deliveries", "list"]);
    assert!(!log.contains("ONAPPTEST"), "{log}");
}

/// A binding whose `auth_type` names no user of the portal gets deliveries without token keys,
/// never a token that cannot work.
#[tokio::test]
async fn a_binding_for_an_unknown_user_gets_no_tokens() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let app = server.install_app("crm", &[]);
    let bind =
        json!({"event": "ONCRMCONTACTUSERFIELDADD", "handler": receiver.url, "auth_type": 999});
    assert_eq!(
        server
            .app_call(&app.access_token, "event.bind", bind)
            .await
            .1["result"],
        json!(true)
    );
    add_field(&server, "FOR_NOBODY").await;
    let view = receiver.wait_for(1).await[0].decoded();
    let auth = view["auth"].as_object().unwrap();
    assert!(
        !auth.contains_key("access_token") && !auth.contains_key("user_id"),
        "{view}"
    );
    assert_eq!(
        view["auth"]["application_token"],
        app.tokens["application_token"]
    );
}

/// Fact 70: a handler that writes back with the token of each delivery it gets is cut off. The
/// first write starts a session of 7; each delivered token passes it on one lower, so seven
/// rounds of events reach the handler and the write made with the seventh token still succeeds
/// but dispatches nothing.
#[tokio::test]
async fn a_handler_writing_back_on_every_event_is_stopped_after_seven_rounds() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let app = server.install_app("crm", &[]);
    server
        .bind_event(
            &app.access_token,
            "ONCRMCONTACTUSERFIELDUPDATE",
            &receiver.url,
        )
        .await;
    let fields = json!({"fields": {"FIELD_NAME": "LOOP", "USER_TYPE_ID": "string"}});
    let (status, body) = server.call("crm.contact.userfield.add", fields).await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"].as_i64().unwrap();

    let update = |round: usize| json!({"id": id, "fields": {"LABEL": format!("round {round}")}});
    let mut token = app.access_token.clone();
    for round in 1..=8 {
        let (status, body) = server
            .app_call(&token, "crm.contact.userfield.update", update(round))
            .await;
        assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
        if round == 8 {
            break;
        }
        let received = receiver.wait_for(round).await;
        let view = received[round - 1].decoded();
        assert_eq!(view["event"], "ONCRMCONTACTUSERFIELDUPDATE");
        token = view["auth"]["access_token"].as_str().unwrap().to_string();
    }

    // The eighth change is in the log, without a delivery; nothing more reaches the handler.
    let (_, events) = server
        .admin(
            "GET",
            "/admin/events?name=ONCRMCONTACTUSERFIELDUPDATE",
            None,
        )
        .await;
    let events = events.as_array().unwrap().clone();
    assert_eq!(events.len(), 8, "{events:?}");
    for (index, event) in events.iter().enumerate() {
        let query = format!("event_id={}", event["id"]);
        let expected = if index < 7 { 1 } else { 0 };
        assert_eq!(
            crate::delivery::deliveries(&server, &query).await.len(),
            expected,
            "deliveries of event {index}"
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 7);
}

/// `data.QUERY` of `ONAPPTEST` keeps the order the parameters came in, wherever `auth` and
/// `start` stood among them (PHP removes them in place).
#[tokio::test]
async fn event_test_echoes_the_parameters_in_their_order() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let app = server.install_app("crm", &[]);
    server
        .bind_event(&app.access_token, "ONAPPTEST", &receiver.url)
        .await;
    let token = &app.access_token;
    let url = format!(
        "{}/rest/event.test?auth={token}&x=1&start=2&y=2&auth_connector=c&z=3",
        server.base_url
    );
    let (status, body) = server.get(&url).await;
    assert_eq!((status, &body["result"]), (200, &json!(1)), "{body}");
    let request = &receiver.wait_for(1).await[0];
    assert!(
        request.text().contains(
            "&data%5BQUERY%5D%5Bx%5D=1&data%5BQUERY%5D%5By%5D=2&data%5BQUERY%5D%5Bz%5D=3\
             &data%5BLANGUAGE_ID%5D=en&ts="
        ),
        "{}",
        request.text()
    );
}
