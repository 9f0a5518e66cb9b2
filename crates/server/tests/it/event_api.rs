//! `events`, `event.bind`, `event.unbind`, `event.get`: results and every error of the spec.

use serde_json::json;

use crate::utils::{TestServer, rest_error as error};

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
    assert_eq!(
        (status, body),
        (
            400,
            error(
                "ERROR_CORE",
                "Unable to set event handler: Handler already binded"
            )
        )
    );

    let offline = json!({"event": "ONCRMCONTACTUSERFIELDDELETE", "event_type": "offline", "auth_connector": "c1"});
    assert_eq!(
        server.app_call(&token, "event.bind", offline).await.1["result"],
        json!(true)
    );
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

#[tokio::test]
async fn bind_errors() {
    let server = TestServer::start().await;
    let token = server.install_app("user", &["--user", "1"]).access_token;
    let cases = [
        (
            json!({"handler": "http://127.0.0.1:9/h"}),
            400,
            error("ERROR_ARGUMENT", "Argument 'EVENT' is null or empty"),
        ),
        (
            json!({"event": "ONAPPTEST"}),
            400,
            error("ERROR_ARGUMENT", "Argument 'HANDLER' is null or empty"),
        ),
        (
            json!({"event": "ONAPPTEST", "event_type": "sometimes"}),
            400,
            error("ERROR_ARGUMENT", "Value must be one of {online|offline}"),
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
        let (got_status, mut body) = server.app_call(&token, "event.bind", params.clone()).await;
        if let Some(map) = body.as_object_mut() {
            map.remove("argument");
        }
        assert_eq!((got_status, body), (status, expected), "{params}");
    }
    let (_, body) = server
        .app_call(
            &token,
            "event.bind",
            json!({"handler": "http://x.example/h"}),
        )
        .await;
    assert_eq!(body["argument"], "EVENT");
}

#[tokio::test]
async fn non_administrators_and_webhooks() {
    let server = TestServer::start().await;
    server.cli(&["user", "add", "--name", "Ann"]);
    let token = server.install_app("crm", &["--user", "2"]).access_token;
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
    let user_only = server.install_app("user", &["--user", "1"]).access_token;
    let (_, body) = server.app_call(&user_only, "events", json!({})).await;
    assert!(
        !body["result"]
            .as_array()
            .unwrap()
            .contains(&json!("ONCRMCONTACTUSERFIELDADD"))
    );
}
