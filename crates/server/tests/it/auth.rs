//! Incoming-webhook authentication and scopes over real HTTP (decision 5).

use serde_json::{Value, json};

use crate::utils::TestServer;

fn invalid_credentials() -> (u16, Value) {
    (
        401,
        json!({"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}),
    )
}

#[tokio::test]
async fn wrong_webhook_credentials_are_refused() {
    let server = TestServer::start().await;
    let hook = &server.webhook_url;
    let token = hook.trim_end_matches('/').rsplit('/').next().unwrap();
    let base = format!("{}/rest", server.base_url);
    for url in [
        format!("{base}/1/x{token}/profile"),
        format!("{base}/1/{}/profile", &token[1..]),
        format!("{base}/1/{}/profile", token.to_uppercase()),
        format!("{base}/2/{token}/profile"),
        format!("{base}/99/{token}/profile"),
        format!("{base}/admin/{token}/profile"),
        format!("{base}/1//profile"),
    ] {
        assert_eq!(server.get(&url).await, invalid_credentials(), "{url}");
    }
    // As on Bitrix24, the method is looked up before the credentials.
    let (status, body) = server.get(&format!("{base}/1/x{token}/no.such")).await;
    assert_eq!(
        (status, &body["error"]),
        (404, &json!("ERROR_METHOD_NOT_FOUND"))
    );
}

#[tokio::test]
async fn expired_and_deleted_webhooks_stop_working() {
    let server = TestServer::start().await;
    let expired = server.cli(&[
        "webhook",
        "add",
        "--user",
        "1",
        "--scope",
        "user",
        "--expires-at",
        "1000000000",
    ]);
    let (status, body) = server.get(&format!("{}profile", expired.trim())).await;
    assert_eq!((status, body), invalid_credentials());

    let later = server.cli(&[
        "webhook",
        "add",
        "--user",
        "1",
        "--scope",
        "user",
        "--expires-at",
        "4102444800",
    ]);
    let url = format!("{}profile", later.trim());
    assert_eq!(server.get(&url).await.0, 200);

    let listed = server.cli(&["webhook", "list"]);
    let id = listed
        .lines()
        .find(|line| line.ends_with(later.trim()))
        .and_then(|line| line.split('\t').next())
        .unwrap()
        .to_string();
    // The server keeps webhooks it has read (the credential cache), but the CLI tells it of
    // the delete before it exits: the very next call is refused.
    server.cli(&["webhook", "delete", &id]);
    assert_eq!(server.get(&url).await, invalid_credentials());
}

#[tokio::test]
async fn a_missing_scope_is_forbidden() {
    let server = TestServer::start().await;
    let crm_only = server.cli(&["webhook", "add", "--user", "1", "--scope", "crm"]);
    let crm_only = crm_only.trim();
    let (status, body) = server.get(&format!("{crm_only}user.current")).await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"error": "insufficient_scope", "error_description": ""})
        )
    );
    // `basic` methods need no scope.
    for method in ["profile", "scope", "server.time", "user.admin"] {
        let (status, _) = server.get(&format!("{crm_only}{method}")).await;
        assert_eq!(status, 200, "{method}");
    }
    let (_, body) = server
        .get(&format!("{crm_only}method.get?name=user.current"))
        .await;
    assert_eq!(
        body["result"],
        json!({"isExisting": true, "isAvailable": false})
    );
}

#[tokio::test]
async fn calls_run_as_the_webhooks_user() {
    let server = TestServer::start().await;
    let id = server.cli(&["user", "add", "--name", "Ann", "--last-name", "Lee"]);
    let id = id.trim();
    let hook = server.cli(&["webhook", "add", "--user", id, "--scope", "user"]);
    let hook = hook.trim();
    let (status, body) = server.get(&format!("{hook}profile")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"],
        json!({"ID": id, "ADMIN": false, "NAME": "Ann", "LAST_NAME": "Lee", "PERSONAL_GENDER": "", "TIME_ZONE": ""})
    );
    let (_, body) = server.get(&format!("{hook}user.admin")).await;
    assert_eq!(body["result"], json!(false));
    // Ann's token under the administrator's id is not a credential.
    let forged = hook.replacen(&format!("/rest/{id}/"), "/rest/1/", 1);
    assert_eq!(
        server.get(&format!("{forged}profile")).await,
        invalid_credentials()
    );
}

#[tokio::test]
async fn require_https_refuses_plain_calls() {
    let server = TestServer::start_with(&["--require-https"]).await;
    let expected = (
        401,
        json!({"error": "INVALID_REQUEST", "error_description": "Https required."}),
    );
    assert_eq!(
        server.get(&format!("{}profile", server.webhook_url)).await,
        expected
    );
    assert_eq!(
        server.call("batch", json!({"cmd": ["profile"]})).await,
        expected
    );
    // Behind a TLS-terminating proxy that says so, calls pass.
    let response = server
        .client()
        .get(format!("{}profile", server.webhook_url))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn scopes_no_portal_knows_are_kept_with_a_warning() {
    let server = TestServer::start().await;
    let (ok, stderr) = server.cli_result(&["webhook", "add", "--user", "1", "--scope", "crm,crn"]);
    assert!(ok);
    assert!(
        stderr.contains("warning: not Bitrix24 scopes, kept as given: crn"),
        "{stderr}"
    );
    let (ok, stderr) = server.cli_result(&["webhook", "add", "--user", "1", "--scope", "crm,task"]);
    assert!(ok && stderr.is_empty(), "{stderr}");
    let listed = server.cli(&["webhook", "list"]);
    assert!(listed.contains("crm,crn"), "{listed}");
}
