//! The call protocol: URL forms, encodings, envelopes, auth errors.

use serde_json::{Value, json};

use crate::utils::TestServer;

#[tokio::test]
async fn profile_through_the_webhook() {
    let server = TestServer::start().await;
    let (status, body) = server.call("profile", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!({"ID": "1", "ADMIN": true, "NAME": "Admin", "LAST_NAME": "Admin", "PERSONAL_GENDER": "", "TIME_ZONE": ""})
    );
    let time = body["time"].as_object().unwrap();
    for key in ["start", "finish", "duration", "processing", "operating"] {
        assert!(time[key].is_number(), "time.{key} is a number");
    }
    for key in ["date_start", "date_finish"] {
        assert!(time[key].as_str().unwrap().ends_with("+00:00"));
    }
    assert!(time["operating_reset_at"].is_i64());
}

#[tokio::test]
async fn unknown_method_and_bad_credentials() {
    let server = TestServer::start().await;
    let (status, body) = server.call("no.such.method", json!({})).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"})
        )
    );

    let wrong = server.webhook_url.replace("/rest/1/", "/rest/1/x");
    let (status, body) = server.get(&format!("{wrong}profile")).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"})
        )
    );

    let (status, body) = server
        .get(&format!("{}/rest/profile", server.base_url))
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"})
        )
    );
}

#[tokio::test]
async fn cli_webhooks_work_while_the_server_runs() {
    let server = TestServer::start().await;
    let url = server.cli(&["webhook", "add", "--user", "1", "--scope", "user"]);
    let url = url.trim();
    assert!(
        url.starts_with(&format!("{}/rest/1/", server.base_url)),
        "{url}"
    );
    let (status, body) = server.get(&format!("{url}user.current")).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["ID"], "1");
    let (status, body) = server.get(&format!("{url}scope")).await;
    assert_eq!((status, &body["result"]), (200, &json!(["user"])));
    // This webhook has no crm scope.
    let (status, body) = server.get(&format!("{url}batch?cmd[a]=profile")).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["result"]["a"]["ID"], Value::from("1"));
}
