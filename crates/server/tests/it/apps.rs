//! Applications: registration, installation, OAuth 2.0 codes and tokens, `app.info`.

use serde_json::{Value, json};

use crate::receiver::eventually;
use crate::utils::{InstalledApp, TestServer, decode, keys_of};

fn token(tokens: &Value, key: &str) -> String {
    tokens[key].as_str().unwrap().to_string()
}

#[tokio::test]
async fn installed_app_calls_with_its_access_token() {
    let server = TestServer::start().await;
    let app = server.install_app("crm,user", &[]);
    let access = token(&app.tokens, "access_token");
    assert_eq!(
        app.tokens["client_endpoint"],
        format!("{}/rest/", server.base_url)
    );
    assert_eq!(app.tokens["expires_in"], 3600);
    assert_eq!(app.tokens["scope"], "crm,user");
    assert_eq!(app.tokens["status"], "L");

    let (status, body) = server
        .get(&format!("{}/rest/profile?auth={access}", server.base_url))
        .await;
    assert_eq!((status, &body["result"]["ID"]), (200, &json!("1")));

    // The token in a form body and as a Bearer header work too.
    let form = server
        .client()
        .post(format!("{}/rest/user.current", server.base_url))
        .form(&[("auth", &access)]);
    let (status, body) = decode(form.send().await.unwrap()).await;
    assert_eq!((status, &body["result"]["ID"]), (200, &json!("1")));
    let bearer = server
        .client()
        .get(format!("{}/rest/scope", server.base_url))
        .bearer_auth(&access);
    let (status, body) = decode(bearer.send().await.unwrap()).await;
    assert_eq!(
        (status, body["result"].clone()),
        (200, json!(["crm", "user"]))
    );

    let (status, body) = server
        .get(&format!("{}/rest/app.info?auth={access}", server.base_url))
        .await;
    assert_eq!(status, 200);
    let info = body["result"].as_object().unwrap();
    assert_eq!(info["CODE"], json!(app.client_id));
    assert_eq!(
        (
            &info["STATUS"],
            &info["INSTALLED"],
            &info["PAYMENT_EXPIRED"],
            &info["DAYS"]
        ),
        (&json!("L"), &json!(true), &json!("N"), &Value::Null)
    );
    assert!(info["ID"].is_i64() && info["VERSION"].is_i64());
}

#[tokio::test]
async fn app_info_needs_an_application() {
    let server = TestServer::start().await;
    let (status, body) = server.call("app.info", json!({})).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "ACCESS_DENIED", "error_description": "Access denied! Application context required"})
        )
    );
}

#[tokio::test]
async fn expired_revoked_and_unknown_tokens() {
    let server = TestServer::start().await;
    let app = server.install_app("crm,user", &["--access-token-ttl", "0"]);
    let url = |token: &str| format!("{}/rest/profile?auth={token}", server.base_url);
    let (status, body) = server.get(&url(&token(&app.tokens, "access_token"))).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"error": "expired_token", "error_description": "The access token provided has expired."})
        )
    );
    let (status, body) = server.get(&url("nosuchtoken")).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"error": "invalid_token", "error_description": "The access token provided is invalid."})
        )
    );

    // A refresh after expiry brings a working token.
    let refreshed = refresh(&server, &app, &token(&app.tokens, "refresh_token")).await;
    assert_eq!(refreshed.0, 200);
    let fresh = token(&refreshed.1, "access_token");
    assert_eq!(server.get(&url(&fresh)).await.0, 200);

    // Uninstalling revokes every token.
    server.cli(&["app", "uninstall", "--client-id", &app.client_id]);
    let (status, body) = server.get(&url(&fresh)).await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"error": "invalid_token", "error_description": "The access token provided is invalid."})
        )
    );
}

/// A method outside the application's scopes: 403 `insufficient_scope`, empty description
/// (decision 5).
#[tokio::test]
async fn a_method_outside_the_applications_scopes_is_forbidden() {
    let server = TestServer::start().await;
    let app = server.install_app("user", &[]);
    let (status, body) = server
        .app_call(&app.access_token, "crm.contact.userfield.list", json!({}))
        .await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"error": "insufficient_scope", "error_description": ""})
        )
    );
}

fn oauth_error(code: &str, description: &str) -> Value {
    json!({"error": code, "error_description": description})
}

/// Every refusal of the token endpoint, with its status and body (`rest-protocol.md` §11.6).
#[tokio::test]
async fn token_endpoint_errors() {
    let server = TestServer::start().await;
    let app = server.install_app("crm", &[]);
    let (id, secret) = (&app.client_id, &app.client_secret);
    let cases = [
        (
            format!(
                "grant_type=refresh_token&client_id={id}&client_secret={secret}&refresh_token=nope"
            ),
            400,
            oauth_error("invalid_grant", "Invalid refresh token"),
        ),
        (
            format!(
                "grant_type=authorization_code&client_id={id}&client_secret={secret}&code=nope"
            ),
            400,
            oauth_error("invalid_grant", "Invalid authorization code"),
        ),
        (
            format!("grant_type=authorization_code&client_id={id}&client_secret={secret}"),
            400,
            oauth_error("invalid_grant", "Invalid authorization code"),
        ),
        (
            format!("client_id={id}&client_secret={secret}"),
            400,
            oauth_error("invalid_request", "grant_type is required"),
        ),
        (
            format!("grant_type=password&client_id={id}&client_secret={secret}"),
            400,
            oauth_error("unsupported_grant_type", "Unsupported grant type"),
        ),
        (
            format!("grant_type=refresh_token&client_id={id}&client_secret=wrong"),
            401,
            oauth_error("invalid_client", "Invalid client"),
        ),
        (
            "grant_type=refresh_token&client_id=local.nope&client_secret=x".to_string(),
            401,
            oauth_error("invalid_client", "Invalid client"),
        ),
        (
            // Bytes that decode to no UTF-8 text.
            format!("grant_type=refresh_token&client_id={id}&client_secret=%FF%FE"),
            400,
            oauth_error("invalid_request", "Malformed request"),
        ),
    ];
    for (query, status, expected) in cases {
        let url = format!("{}/oauth/token/?{query}", server.base_url);
        assert_eq!(server.get(&url).await, (status, expected), "{query}");
        // The same parameters in a form body.
        let post = server
            .client()
            .post(format!("{}/oauth/token/", server.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(query.clone());
        let answer = decode(post.send().await.unwrap()).await;
        assert_eq!(answer.0, status, "POST {query}");
    }

    // An uninstalled application gets neither codes nor tokens.
    server.cli(&["app", "uninstall", "--client-id", id]);
    let url = format!("{}/oauth/authorize/?client_id={id}", server.base_url);
    assert_eq!(
        server.get(&url).await,
        (
            400,
            oauth_error("invalid_client", "Application not installed")
        )
    );
    let refresh_token = token(&app.tokens, "refresh_token");
    let (status, body) = refresh(&server, &app, &refresh_token).await;
    assert_eq!(
        (status, body),
        (402, oauth_error("PAYMENT_REQUIRED", "Payment required"))
    );
    // A wrong secret is still an unknown client, installed or not.
    let url = format!(
        "{}/oauth/token/?grant_type=refresh_token&client_id={id}&client_secret=wrong&refresh_token={refresh_token}",
        server.base_url
    );
    assert_eq!(
        server.get(&url).await,
        (401, oauth_error("invalid_client", "Invalid client"))
    );
}

/// Refresh tokens live 180 days (`rest-protocol.md` §11.5), not the 28 older pages gave.
#[tokio::test]
async fn refresh_tokens_live_180_days() {
    let server = TestServer::start_with(&["--allow-clock-control"]).await;
    let app = server.install_app("crm", &[]);
    let advance = async |days: i64| {
        let seconds = json!({"seconds": days * 24 * 3600});
        let (status, _) = server
            .admin("POST", "/admin/clock/advance", Some(seconds))
            .await;
        assert_eq!(status, 200);
    };
    advance(29).await;
    let (status, body) = refresh(&server, &app, &token(&app.tokens, "refresh_token")).await;
    assert_eq!(status, 200, "{body}");
    let still_good = token(&body, "refresh_token");

    advance(181).await;
    let (status, body) = refresh(&server, &app, &still_good).await;
    assert_eq!(
        (status, body),
        (400, oauth_error("invalid_grant", "Invalid refresh token"))
    );
}

async fn refresh(server: &TestServer, app: &InstalledApp, refresh_token: &str) -> (u16, Value) {
    let url = format!(
        "{}/oauth/token/?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={refresh_token}",
        server.base_url, app.client_id, app.client_secret
    );
    server.get(&url).await
}

/// The keys of a token answer, in the order oauth.bitrix.info sends them (a real refresh
/// answer; the documentation's examples are sorted).
const TOKEN_ANSWER_KEYS: [&str; 11] = [
    "access_token",
    "expires",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "user_id",
    "refresh_token",
];

#[tokio::test]
async fn refresh_tokens_work_once_and_rotate() {
    let server = TestServer::start().await;
    let app = server.install_app("crm,user", &[]);
    let old_refresh = token(&app.tokens, "refresh_token");
    let (status, body) = refresh(&server, &app, &old_refresh).await;
    assert_eq!(status, 200);
    assert_eq!(keys_of(&body), TOKEN_ANSWER_KEYS);
    assert_ne!(token(&body, "refresh_token"), old_refresh);
    assert_eq!(
        (body["user_id"].clone(), body["expires_in"].clone()),
        (json!(1), json!(3600))
    );

    let (status, body) = refresh(&server, &app, &old_refresh).await;
    assert_eq!(
        (status, body),
        (400, oauth_error("invalid_grant", "Invalid refresh token"))
    );
    // The access token issued before the refresh lives on until it expires.
    let (status, _) = server
        .get(&format!(
            "{}/rest/profile?auth={}",
            server.base_url,
            token(&app.tokens, "access_token")
        ))
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn authorization_code_flow() {
    let server = TestServer::start().await;
    let app = server.install_app("crm,user", &[]);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(format!(
            "{}/oauth/authorize/?client_id={}&state=xyz",
            server.base_url, app.client_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("http://127.0.0.1:9/install?code="),
        "{location}"
    );
    let query =
        b24lite_core::params::parse_form(location.split_once('?').unwrap().1.as_bytes()).unwrap();
    assert_eq!(query["state"], "xyz");
    assert_eq!(query["scope"], "crm,user");
    assert_eq!(
        query["domain"],
        json!(server.base_url.trim_start_matches("http://"))
    );
    let code = query["code"].as_str().unwrap();

    let exchange = |code: &str, secret: &str| {
        format!(
            "{}/oauth/token/?grant_type=authorization_code&client_id={}&client_secret={secret}&code={code}",
            server.base_url, app.client_id
        )
    };
    let (status, body) = server.get(&exchange(code, &app.client_secret)).await;
    assert_eq!(status, 200);
    assert_eq!(keys_of(&body), TOKEN_ANSWER_KEYS);
    assert_eq!(
        server
            .get(&format!(
                "{}/rest/profile?auth={}",
                server.base_url,
                token(&body, "access_token")
            ))
            .await
            .0,
        200
    );

    let (status, body) = server.get(&exchange(code, &app.client_secret)).await;
    assert_eq!(
        (status, body),
        (
            400,
            oauth_error("invalid_grant", "Invalid authorization code")
        )
    );
    let (status, body) = server.get(&exchange("x", "wrong-secret")).await;
    assert_eq!(
        (status, body),
        (401, oauth_error("invalid_client", "Invalid client"))
    );

    // No code for a user the portal does not have.
    for user in ["999", "abc"] {
        let url = format!(
            "{}/oauth/authorize/?client_id={}&user_id={user}",
            server.base_url, app.client_id
        );
        let (status, body) = server.get(&url).await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({"error": "invalid_request", "error_description": "User not found"})
            ),
            "user_id={user}"
        );
    }
}

/// An authorization code lives 30 seconds (`rest-protocol.md` §11.2).
#[tokio::test]
async fn authorization_codes_expire_after_30_seconds() {
    let server = TestServer::start_with(&["--allow-clock-control"]).await;
    let app = server.install_app("crm", &[]);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let code = async || {
        let url = format!(
            "{}/oauth/authorize/?client_id={}",
            server.base_url, app.client_id
        );
        let response = no_redirects.get(url).send().await.unwrap();
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let query = location.split_once('?').unwrap().1.to_string();
        let query = b24lite_core::params::parse_form(query.as_bytes()).unwrap();
        query["code"].as_str().unwrap().to_string()
    };
    let advance = async |seconds: i64| {
        let body = json!({"seconds": seconds});
        let (status, _) = server
            .admin("POST", "/admin/clock/advance", Some(body))
            .await;
        assert_eq!(status, 200);
    };
    let exchange = |code: &str| {
        format!(
            "{}/oauth/token/?grant_type=authorization_code&client_id={}&client_secret={}&code={code}",
            server.base_url, app.client_id, app.client_secret
        )
    };

    // The clock also moves by itself: leave the fresh code a few real seconds of margin.
    let fresh = code().await;
    advance(25).await;
    assert_eq!(server.get(&exchange(&fresh)).await.0, 200);
    let stale = code().await;
    advance(31).await;
    assert_eq!(
        server.get(&exchange(&stale)).await,
        (
            400,
            oauth_error("invalid_grant", "Invalid authorization code")
        )
    );
}

/// Token rows go a day after both their tokens expired (`housekeeping.rs`, run at start and
/// every ten minutes): until then an expired token answers `expired_token`, afterwards
/// `invalid_token`. Tokens that still live stay.
#[tokio::test]
async fn expired_tokens_are_purged_a_day_after_they_expire() {
    let server = TestServer::start().await;
    let lapsed = server.install_app(
        "crm,user",
        &["--access-token-ttl", "0", "--refresh-token-ttl", "0"],
    );
    let live = server.install_app("crm,user", &[]);
    let server = server.restart(&[]).await;
    let lapsed_token = token(&lapsed.tokens, "access_token");
    let profile =
        |server: &TestServer, token: &str| format!("{}/rest/profile?auth={token}", server.base_url);
    assert_eq!(
        server.get(&profile(&server, &lapsed_token)).await.1["error"],
        "expired_token",
        "within the grace day the row stays"
    );

    // Two days later, as far as the rows can tell.
    let store = server.open_store().await;
    let mut conn = store.pool().acquire().await.unwrap();
    sqlx::query(
        "UPDATE oauth_tokens SET access_expires_at = access_expires_at - 172800,
                                 refresh_expires_at = refresh_expires_at - 172800
         WHERE app_id = $1",
    )
    .bind(lapsed.id)
    .execute(&mut *conn)
    .await
    .unwrap();
    drop(conn);
    store.close().await;

    let server = server.restart(&[]).await;
    let url = profile(&server, &lapsed_token);
    eventually("the lapsed token to be purged", || async {
        let (status, body) = server.get(&url).await;
        (status, &body["error"])
            .eq(&(401, &json!("invalid_token")))
            .then_some(())
    })
    .await;
    assert_eq!(
        server.get(&profile(&server, &live.access_token)).await.0,
        200
    );
}
