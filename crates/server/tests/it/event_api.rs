//! `events`, `event.bind`, `event.unbind`, `event.get`: results and every error of the spec.

use serde_json::{Value, json};

use crate::utils::{TestServer, rest_error as error};

/// A second bind of the same handler (fact 87.9).
fn already_binded() -> Value {
    error(
        "ERROR_CORE",
        "Unable to set event handler: Handler already binded",
    )
}

#[tokio::test]
async fn bind_get_unbind() {
    let server = TestServer::start().await;
    let token = server.install_app("crm", &["--user", "1"]).access_token;
    let bind = json!({"event": "onCrmContactUserFieldAdd", "handler": "http://127.0.0.1:9/h"});
    assert_eq!(
        server.app_call(&token, "event.bind", bind.clone()).await.1["result"],
        json!(true)
    );
    let (status, body) = server.app_call(&token, "event.bind", bind).await;
    assert_eq!((status, body), (400, already_binded()));

    let offline = json!({"event": "ONCRMCONTACTUSERFIELDDELETE", "event_type": "offline", "auth_connector": "c1"});
    assert_eq!(
        server
            .app_call(&token, "event.bind", offline.clone())
            .await
            .1["result"],
        json!(true)
    );
    // The same connector twice is the same duplicate.
    let (status, body) = server.app_call(&token, "event.bind", offline).await;
    assert_eq!((status, body), (400, already_binded()));
    let (_, body) = server.app_call(&token, "event.get", json!({})).await;
    assert_eq!(
        body["result"],
        json!([
            // The install handler is an ONAPPINSTALL binding, as Bitrix24 stores it.
            {"event": "ONAPPINSTALL", "handler": "http://127.0.0.1:9/install", "auth_type": "0", "offline": 0},
            {"event": "ONCRMCONTACTUSERFIELDADD", "handler": "http://127.0.0.1:9/h", "auth_type": "0", "offline": 0},
            {"event": "ONCRMCONTACTUSERFIELDDELETE", "connector_id": "c1", "offline": 1}
        ])
    );

    let unbind = json!({"event": "ONCRMCONTACTUSERFIELDADD", "handler": "http://127.0.0.1:9/h"});
    assert_eq!(
        server
            .app_call(&token, "event.unbind", unbind.clone())
            .await
            .1["result"],
        json!({"count": 1})
    );
    assert_eq!(
        server.app_call(&token, "event.unbind", unbind).await.1["result"],
        json!({"count": 0})
    );
    let offline = json!({"event": "ONCRMCONTACTUSERFIELDDELETE", "event_type": "offline", "auth_connector": "c1"});
    assert_eq!(
        server.app_call(&token, "event.unbind", offline).await.1["result"],
        json!({"count": 1})
    );
    assert_eq!(
        server.app_call(&token, "event.get", json!({})).await.1["result"],
        json!([{"event": "ONAPPINSTALL", "handler": "http://127.0.0.1:9/install", "auth_type": "0", "offline": 0}])
    );
}

/// `ERROR_ARGUMENT` as the REST module's argument exceptions render it, `argument` included.
fn argument_error(argument: &str, description: &str) -> Value {
    json!({"error": "ERROR_ARGUMENT", "error_description": description, "argument": argument})
}

/// `event.unbind` removes what matches the criteria given: an omitted (or `null`) `auth_type`
/// matches every user, `0` or an empty value only handlers bound without one, an omitted
/// `handler` every handler of the event (decision 30, `events.md` §3.3).
#[tokio::test]
async fn unbind_matches_the_criteria_given() {
    let server = TestServer::start().await;
    server.cli(&["user", "add", "--name", "Ann"]);
    let token = server.install_app("crm", &["--user", "1"]).access_token;
    let event = "ONCRMCONTACTUSERFIELDADD";
    let bind_all = async || {
        for (handler, auth_type) in [("/a", 0), ("/a", 2), ("/b", 0), ("/b", 2)] {
            let handler = format!("http://127.0.0.1:9{handler}");
            let bind = json!({"event": event, "handler": handler, "auth_type": auth_type});
            let (status, body) = server.app_call(&token, "event.bind", bind).await;
            assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
        }
    };
    let unbind = async |params: Value| {
        let (status, body) = server.app_call(&token, "event.unbind", params).await;
        assert_eq!(status, 200, "{body}");
        body["result"]["count"].as_i64().unwrap()
    };

    bind_all().await;
    let a = "http://127.0.0.1:9/a";
    assert_eq!(
        unbind(json!({"event": event, "handler": a, "auth_type": ""})).await,
        1
    );
    assert_eq!(
        unbind(json!({"event": event, "handler": a, "auth_type": null})).await,
        1
    );
    assert_eq!(unbind(json!({"event": event, "auth_type": 0})).await, 1);
    assert_eq!(unbind(json!({"event": event})).await, 1);

    bind_all().await;
    let form = server
        .client()
        .post(format!("{}/rest/event.unbind", server.base_url))
        .form(&[
            ("auth", token.as_str()),
            ("event", event),
            ("auth_type", ""),
        ]);
    let (_, body) = crate::utils::decode(form.send().await.unwrap()).await;
    assert_eq!(
        body["result"],
        json!({"count": 2}),
        "an empty form value is 0"
    );
    assert_eq!(unbind(json!({"event": event})).await, 2);
}

#[tokio::test]
async fn bind_errors() {
    let server = TestServer::start().await;
    let token = server.install_app("user", &["--user", "1"]).access_token;
    let cases = [
        (
            json!({"handler": "http://127.0.0.1:9/h"}),
            400,
            argument_error("EVENT", "Argument 'EVENT' is null or empty"),
        ),
        (
            json!({"event": "ONAPPTEST"}),
            400,
            argument_error("HANDLER", "Argument 'HANDLER' is null or empty"),
        ),
        (
            json!({"event": "ONAPPTEST", "event_type": "sometimes"}),
            400,
            argument_error("EVENT_TYPE", "Value must be one of {online|offline}"),
        ),
        (
            json!({"event": "ONAPPTEST", "handler": "ftp://127.0.0.1/h"}),
            400,
            error("ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol"),
        ),
        (
            json!({"event": "ONAPPTEST", "handler": "not a url"}),
            400,
            error("ERROR_WRONG_HANDLER_URL", "Wrong handler URL"),
        ),
        (
            json!({"event": "ONNOSUCHEVENT", "handler": "http://127.0.0.1:9/h"}),
            400,
            error("ERROR_EVENT_NOT_FOUND", "Event not found"),
        ),
        // The application has no crm scope.
        (
            json!({"event": "ONCRMCONTACTUSERFIELDADD", "handler": "http://127.0.0.1:9/h"}),
            400,
            error("ERROR_EVENT_NOT_FOUND", "Event not found"),
        ),
        // A plain REST exception with the argument code: no `argument` key.
        (
            json!({"event": "ONOFFLINEEVENT", "event_type": "offline"}),
            400,
            error(
                "ERROR_ARGUMENT",
                "Offline event cannot be registered for this event.",
            ),
        ),
    ];
    for (params, status, expected) in cases {
        let answer = server.app_call(&token, "event.bind", params.clone()).await;
        assert_eq!(answer, (status, expected), "{params}");
    }
}

#[tokio::test]
async fn unbind_errors() {
    let server = TestServer::start().await;
    let admin = server.install_app("crm", &["--user", "1"]).access_token;
    let cases = [
        (
            json!({"handler": "http://127.0.0.1:9/h"}),
            argument_error("EVENT", "Argument 'EVENT' is null or empty"),
        ),
        (
            json!({"event": "ONAPPTEST", "event_type": "sometimes"}),
            argument_error("EVENT_TYPE", "Value must be one of {online|offline}"),
        ),
    ];
    for (params, expected) in cases {
        let answer = server
            .app_call(&admin, "event.unbind", params.clone())
            .await;
        assert_eq!(answer, (400, expected), "{params}");
    }

    server.cli(&["user", "add", "--name", "Ann"]);
    let app = server.install_app("crm", &[]);
    let user = server.user_token(&app, 2).await;
    let cases = [
        (
            json!({"event": "ONAPPTEST", "handler": "http://127.0.0.1:9/h", "auth_type": 1}),
            "Access denied! Event unbinding with AUTH_TYPE requires administrator access rights",
        ),
        (
            json!({"event": "ONCRMCONTACTUSERFIELDADD", "event_type": "offline"}),
            "Access denied! Offline events unbinding requires administrator access rights",
        ),
    ];
    for (params, description) in cases {
        let answer = server.app_call(&user, "event.unbind", params.clone()).await;
        assert_eq!(
            answer,
            (403, error("ACCESS_DENIED", description)),
            "{params}"
        );
    }
    // Their own user id, or none, is allowed.
    let own = json!({"event": "ONAPPTEST", "handler": "http://127.0.0.1:9/h", "auth_type": 2});
    let (status, body) = server.app_call(&user, "event.unbind", own).await;
    assert_eq!((status, &body["result"]), (200, &json!({"count": 0})));
}

/// Every `event.*` method and `events` refuse an incoming webhook (decision 29).
#[tokio::test]
async fn event_methods_refuse_incoming_webhooks() {
    let server = TestServer::start().await;
    for method in [
        "events",
        "event.bind",
        "event.unbind",
        "event.get",
        "event.test",
        "event.offline.get",
        "event.offline.list",
        "event.offline.clear",
        "event.offline.error",
    ] {
        let params = json!({"event": "ONAPPTEST", "handler": "http://127.0.0.1:9/h"});
        let answer = server.call(method, params).await;
        let expected = error(
            "WRONG_AUTH_TYPE",
            "Current authorization type is denied for this method",
        );
        assert_eq!(answer, (403, expected), "{method}");
    }
}

/// A binding's connector is the request's `auth_connector`, the key the offline methods read;
/// the same name in another letter case is no connector at all.
#[tokio::test]
async fn the_connector_of_a_binding_is_the_requests_auth_connector() {
    let server = TestServer::start().await;
    let token = server.install_app("crm", &["--user", "1"]).access_token;
    let event = "ONCRMCONTACTUSERFIELDADD";
    for params in [
        json!({"event": event, "event_type": "offline", "auth_connector": "c1"}),
        json!({"event": event, "event_type": "offline", "AUTH_CONNECTOR": "c2"}),
    ] {
        let (status, body) = server.app_call(&token, "event.bind", params).await;
        assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    }
    let (_, body) = server.app_call(&token, "event.get", json!({})).await;
    assert_eq!(
        body["result"],
        json!([
            {"event": "ONAPPINSTALL", "handler": "http://127.0.0.1:9/install", "auth_type": "0", "offline": 0},
            {"event": event, "connector_id": "c1", "offline": 1},
            {"event": event, "connector_id": "", "offline": 1}
        ])
    );
    let unbind = json!({"event": event, "event_type": "offline", "auth_connector": "c1"});
    let (_, body) = server.app_call(&token, "event.unbind", unbind).await;
    assert_eq!(body["result"], json!({"count": 1}));
}

#[tokio::test]
async fn non_administrators_and_webhooks() {
    let server = TestServer::start().await;
    server.cli(&["user", "add", "--name", "Ann"]);
    let app = server.install_app("crm", &[]);
    let token = server.user_token(&app, 2).await;
    let (status, body) = server
        .app_call(
            &token,
            "event.bind",
            json!({"event": "ONAPPTEST", "handler": "http://127.0.0.1:9/h", "auth_type": 1}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            403,
            error(
                "ACCESS_DENIED",
                "Access denied! Event binding with AUTH_TYPE requires administrator access rights"
            )
        )
    );
    let (status, body) = server
        .app_call(
            &token,
            "event.bind",
            json!({"event": "ONAPPTEST", "event_type": "offline"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            403,
            error(
                "ACCESS_DENIED",
                "Access denied! Offline events binding requires administrator access rights"
            )
        )
    );
    // A non-administrator is bound as themselves.
    server
        .app_call(
            &token,
            "event.bind",
            json!({"event": "ONAPPTEST", "handler": "http://127.0.0.1:9/h"}),
        )
        .await;
    let (_, body) = server.app_call(&token, "event.get", json!({})).await;
    assert_eq!(body["result"][0]["auth_type"], "2");

    let (status, body) = server
        .call(
            "event.bind",
            json!({"event": "ONAPPTEST", "handler": "http://127.0.0.1:9/h"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            403,
            error(
                "WRONG_AUTH_TYPE",
                "Current authorization type is denied for this method"
            )
        )
    );
}

#[tokio::test]
async fn events_lists_what_the_application_may_bind() {
    let server = TestServer::start().await;
    let token = server.install_app("crm", &["--user", "1"]).access_token;
    let (_, body) = server.app_call(&token, "events", json!({})).await;
    let names: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"ONAPPINSTALL") && names.contains(&"ONCRMCONTACTUSERFIELDSETENUMVALUES"),
        "{names:?}"
    );
    let (_, body) = server
        .app_call(&token, "events", json!({"SCOPE": "crm"}))
        .await;
    assert_eq!(
        body["result"],
        json!([
            "ONCRMCONTACTUSERFIELDADD",
            "ONCRMCONTACTUSERFIELDUPDATE",
            "ONCRMCONTACTUSERFIELDDELETE",
            "ONCRMCONTACTUSERFIELDSETENUMVALUES"
        ])
    );
    // `SCOPE` given, even empty, wins over `FULL`; an empty one lists the `basic` events.
    for params in [json!({"SCOPE": ""}), json!({"SCOPE": "", "FULL": 1})] {
        let (_, body) = server.app_call(&token, "events", params.clone()).await;
        assert_eq!(
            body["result"],
            json!([
                "ONAPPUNINSTALL",
                "ONAPPINSTALL",
                "ONAPPUPDATE",
                "ONAPPTEST",
                "ONOFFLINEEVENT"
            ]),
            "{params}"
        );
    }
    let user_only = server.install_app("user", &["--user", "1"]).access_token;
    let (_, body) = server.app_call(&user_only, "events", json!({})).await;
    assert!(
        !body["result"]
            .as_array()
            .unwrap()
            .contains(&json!("ONCRMCONTACTUSERFIELDADD"))
    );
}
