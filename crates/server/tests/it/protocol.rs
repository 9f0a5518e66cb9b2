//! The call protocol over real HTTP: URL forms, encodings, envelopes, the common methods.

use serde_json::{Value, json};

use crate::utils::{TestServer, decode};

/// Sends `body` with `content_type` by POST to `url`.
pub async fn post_raw(
    server: &TestServer,
    url: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = server
        .client()
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    decode(response).await
}

/// A `multipart/form-data` body of text parts; returns `(content type, body)`.
pub fn multipart(parts: &[(&str, &str)]) -> (String, String) {
    let boundary = "b24liteTestBoundary7MA4YWxk";
    let mut body = String::new();
    for (name, value) in parts {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    (format!("multipart/form-data; boundary={boundary}"), body)
}

const ADMIN_PROFILE: &str = r#"{"ID":"1","ADMIN":true,"NAME":"Admin","LAST_NAME":"Admin","PERSONAL_GENDER":"","TIME_ZONE":""}"#;

fn admin_profile() -> Value {
    serde_json::from_str(ADMIN_PROFILE).unwrap()
}

/// Asserts a success envelope: `result` as given, and a `time` block with every key typed as
/// Bitrix24 types it (`operating` keys only when `operating` is true).
pub fn assert_success(body: &Value, result: &Value, operating: bool) {
    assert_eq!(&body["result"], result, "{body}");
    let time = body["time"].as_object().expect("time block");
    let mut keys = vec![
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
    ];
    if operating {
        keys.extend(["operating_reset_at", "operating"]);
    }
    assert_eq!(time.keys().map(String::as_str).collect::<Vec<_>>(), keys);
    for key in ["start", "finish", "duration", "processing"] {
        assert!(time[key].is_number(), "time.{key}");
    }
    assert!(time["finish"].as_f64() >= time["start"].as_f64());
    for key in ["date_start", "date_finish"] {
        let date = time[key].as_str().unwrap();
        assert!(is_bitrix_date(date, "+00:00"), "{date}");
    }
    if operating {
        assert!(time["operating"].is_number());
        let reset = time["operating_reset_at"].as_i64().unwrap();
        let start = time["start"].as_f64().unwrap() as i64;
        assert!((start..=start + 600).contains(&reset), "{reset} vs {start}");
    }
}

/// `YYYY-MM-DDThh:mm:ss±hh:mm` with the given offset.
fn is_bitrix_date(text: &str, offset: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() == 25
        && text.ends_with(offset)
        && [4, 7].iter().all(|&i| bytes[i] == b'-')
        && bytes[10] == b'T'
        && [13, 16].iter().all(|&i| bytes[i] == b':')
        && text[..19]
            .bytes()
            .enumerate()
            .all(|(i, b)| [4, 7, 10, 13, 16].contains(&i) || b.is_ascii_digit())
}

#[tokio::test]
async fn profile_through_the_webhook() {
    let server = TestServer::start().await;
    let (status, body) = server.call("profile", json!({})).await;
    assert_eq!(status, 200);
    assert_success(&body, &admin_profile(), true);
    assert_eq!(body.as_object().unwrap().len(), 2, "only result and time");
}

#[tokio::test]
async fn every_webhook_url_form_reaches_the_method() {
    let server = TestServer::start().await;
    let hook = &server.webhook_url;
    for suffix in [
        "profile",
        "profile.json",
        "profile/",
        "profile.json/",
        "PROFILE",
        "Profile.JSON",
    ] {
        let url = format!("{hook}{suffix}");
        let (status, body) = server.get(&url).await;
        assert_eq!(status, 200, "{suffix}: {body}");
        assert_success(&body, &admin_profile(), true);
        let response = server.client().post(&url).send().await.unwrap();
        let (status, body) = decode(response).await;
        assert_eq!(status, 200, "POST {suffix}");
        assert_eq!(body["result"], admin_profile());
    }
}

#[tokio::test]
async fn json_is_written_as_php_writes_it() {
    let server = TestServer::start().await;
    let response = server
        .client()
        .get(format!("{}profile", server.webhook_url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with(&format!(r#"{{"result":{ADMIN_PROFILE},"time":{{"start":"#)),
        "{text}"
    );
}

#[tokio::test]
async fn oauth_form_without_or_with_an_unknown_token() {
    let server = TestServer::start().await;
    let no_auth =
        json!({"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"});
    let invalid = json!({"error": "invalid_token", "error_description": "The access token provided is invalid."});
    let base = format!("{}/rest/", server.base_url);
    for url in [
        "profile",
        "profile.json",
        "profile?auth=",
        "profile.json/?auth=",
    ] {
        assert_eq!(
            server.get(&format!("{base}{url}")).await,
            (401, no_auth.clone()),
            "{url}"
        );
    }
    assert_eq!(
        server
            .get(&format!("{base}user.current?auth=0123abc"))
            .await,
        (401, invalid.clone())
    );
    let url = format!("{base}user.current");
    let form = post_raw(
        &server,
        &url,
        "application/x-www-form-urlencoded",
        "auth=0123abc",
    )
    .await;
    assert_eq!(form, (401, invalid.clone()));
    let json_body = post_raw(&server, &url, "application/json", r#"{"auth":"0123abc"}"#).await;
    assert_eq!(json_body, (401, invalid.clone()));
    for header in ["Bearer 0123abc", "BEARER 0123abc", "bearer  0123abc"] {
        let response = server
            .client()
            .get(&url)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(decode(response).await, (401, invalid.clone()), "{header}");
    }
    // Another scheme carries no token.
    let response = server
        .client()
        .get(&url)
        .header("authorization", "Basic 0123abc")
        .send()
        .await
        .unwrap();
    assert_eq!(decode(response).await, (401, no_auth));
}

#[tokio::test]
async fn parameters_from_every_encoding() {
    let server = TestServer::start().await;
    let url = format!("{}method.get", server.webhook_url);
    let found = json!({"isExisting": true, "isAvailable": true});
    let missing = json!({"isExisting": false, "isAvailable": false});

    let (status, body) = server.get(&format!("{url}?name=server.time")).await;
    assert_eq!(status, 200);
    assert_success(&body, &found, true);
    let (_, body) = server.get(&format!("{url}?name=no.such")).await;
    assert_eq!(body["result"], missing);

    let form = "application/x-www-form-urlencoded";
    let (status, body) = post_raw(&server, &url, form, "name=server.time").await;
    assert_eq!((status, &body["result"]), (200, &found));

    let (content_type, data) = multipart(&[("name", "server.time")]);
    let (status, body) = post_raw(&server, &url, &content_type, data).await;
    assert_eq!((status, &body["result"]), (200, &found));

    let json_type = "application/json";
    let (status, body) = post_raw(&server, &url, json_type, r#"{"name":"server.time"}"#).await;
    assert_eq!((status, &body["result"]), (200, &found));
    // A JSON value of another type is read the way PHP casts it.
    let (status, body) = post_raw(&server, &url, json_type, r#"{"name":7}"#).await;
    assert_eq!((status, &body["result"]), (200, &missing));
}

#[tokio::test]
async fn the_body_wins_over_the_query_string() {
    let server = TestServer::start().await;
    let url = format!("{}method.get?name=no.such", server.webhook_url);
    let found = json!({"isExisting": true, "isAvailable": true});
    let json_body = post_raw(&server, &url, "application/json", r#"{"name":"profile"}"#).await;
    assert_eq!((json_body.0, &json_body.1["result"]), (200, &found));
    let form = "application/x-www-form-urlencoded";
    let form_body = post_raw(&server, &url, form, "name=profile").await;
    assert_eq!((form_body.0, &form_body.1["result"]), (200, &found));
    // Query keys the body does not have still arrive.
    let url = format!("{}methods?scope=", server.webhook_url);
    let (status, body) = post_raw(&server, &url, "application/json", r#"{"full":false}"#).await;
    assert_eq!(status, 200);
    assert!(body["result"].as_array().unwrap().contains(&json!("batch")));
    assert!(
        !body["result"]
            .as_array()
            .unwrap()
            .contains(&json!("user.current"))
    );
}

#[tokio::test]
async fn bracket_keys_build_arrays_in_every_encoding() {
    let server = TestServer::start().await;
    let url = format!("{}batch", server.webhook_url);
    let expected = json!([admin_profile(), {"isExisting": true, "isAvailable": true}]);
    let inner = "method.get%3Fname%3Dscope";

    let (status, body) = server
        .get(&format!("{url}?cmd[]=profile&cmd[]={inner}"))
        .await;
    assert_eq!((status, &body["result"]["result"]), (200, &expected));

    let form = "application/x-www-form-urlencoded";
    let data = format!("cmd%5B%5D=profile&cmd%5B%5D={inner}");
    let (status, body) = post_raw(&server, &url, form, data).await;
    assert_eq!((status, &body["result"]["result"]), (200, &expected));

    let (content_type, data) =
        multipart(&[("cmd[0]", "profile"), ("cmd[1]", "method.get?name=scope")]);
    let (status, body) = post_raw(&server, &url, &content_type, data).await;
    assert_eq!((status, &body["result"]["result"]), (200, &expected));
}

#[tokio::test]
async fn errors_carry_no_time_block() {
    let server = TestServer::start().await;
    let (status, body) = server.call("no.such.method", json!({})).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"})
        )
    );
    let (status, body) = server.call("feature.get", json!({})).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "CODE_EMPTY", "error_description": "CODE can't be empty"})
        )
    );
}

#[tokio::test]
async fn common_methods_have_bitrix_shapes() {
    let server = TestServer::start().await;
    let (status, body) = server.call("server.time", json!({})).await;
    assert_eq!(status, 200);
    assert!(is_bitrix_date(body["result"].as_str().unwrap(), "+00:00"));

    // The default webhook has crm and user.
    let (_, body) = server.call("scope", json!({})).await;
    assert_success(&body, &json!(["crm", "user"]), true);
    let (_, body) = server.call("scope", json!({"full": true})).await;
    let all = body["result"].as_array().unwrap();
    assert!(all.contains(&json!("user")) && !all.contains(&json!("basic")));

    let (_, body) = server.call("methods", json!({"scope": ""})).await;
    let common: Vec<&str> = body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in [
        "batch",
        "scope",
        "methods",
        "method.get",
        "server.time",
        "profile",
    ] {
        assert!(common.contains(&name), "{name} in {common:?}");
    }
    let (_, body) = server.call("methods", json!({"scope": "user"})).await;
    assert!(
        body["result"]
            .as_array()
            .unwrap()
            .contains(&json!("user.current"))
    );

    for (params, result) in [
        (
            json!({"name": "batch"}),
            json!({"isExisting": true, "isAvailable": true}),
        ),
        (
            json!({"name": ""}),
            json!({"isExisting": false, "isAvailable": false}),
        ),
        (
            json!({}),
            json!({"isExisting": false, "isAvailable": false}),
        ),
    ] {
        let (status, body) = server.call("method.get", params).await;
        assert_eq!((status, &body["result"]), (200, &result));
    }

    let (_, body) = server.call("user.admin", json!({})).await;
    assert_success(&body, &json!(true), true);
    let (_, body) = server
        .call("feature.get", json!({"CODE": "rest_offline_extended"}))
        .await;
    assert_success(&body, &json!({"value": "Y"}), true);
    let (_, body) = server.call("feature.get", json!({"CODE": "other"})).await;
    assert_eq!(body["result"], json!({"value": "N"}));

    let (status, body) = server.call("user.current", json!({})).await;
    assert_eq!(status, 200);
    let user = &body["result"];
    assert_eq!(
        (
            &user["ID"],
            &user["ACTIVE"],
            &user["NAME"],
            &user["UF_DEPARTMENT"]
        ),
        (&json!("1"), &json!(true), &json!("Admin"), &json!([1]))
    );
}

#[tokio::test]
async fn a_stray_start_parameter_is_harmless() {
    let server = TestServer::start().await;
    let (status, body) = server.call("scope", json!({"start": 50})).await;
    assert_eq!((status, &body["result"]), (200, &json!(["crm", "user"])));
    assert_eq!(body.get("total"), None);
    assert_eq!(body.get("next"), None);
    let (status, body) = server
        .get(&format!("{}profile?start=-1", server.webhook_url))
        .await;
    assert_eq!((status, &body["result"]), (200, &admin_profile()));
}

/// Decision 3: an empty `auth` in the query is no token, so the body's `auth` (or a Bearer
/// header) is still found.
#[tokio::test]
async fn an_empty_auth_does_not_hide_a_later_token() {
    let server = TestServer::start().await;
    let app = server.install_app("crm", &[]);
    let url = format!("{}/rest/profile?auth=", server.base_url);
    let form = "application/x-www-form-urlencoded";
    let (status, body) = post_raw(&server, &url, form, format!("auth={}", app.access_token)).await;
    assert_eq!(status, 200, "{body}");
    assert_success(&body, &admin_profile(), true);
    let response = server
        .client()
        .post(&url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", app.access_token))
        .body(r#"{"auth":""}"#)
        .send()
        .await
        .unwrap();
    let (status, body) = decode(response).await;
    assert_eq!(status, 200, "{body}");
    assert_success(&body, &admin_profile(), true);
}

/// Fact 8: PHP has no empty object, so an empty map anywhere in an answer is written `[]` (here
/// the empty `QUERY` of an `event.test` read back from the offline queue).
#[tokio::test]
async fn empty_maps_are_written_as_empty_lists() {
    let server = TestServer::start().await;
    let app = server.install_app("crm", &[]);
    let token = &app.access_token;
    let bind = json!({"event": "ONAPPTEST", "event_type": "offline"});
    assert_eq!(server.app_call(token, "event.bind", bind).await.0, 200);
    // Another connector's call, so that the record is kept for this one (fact 96).
    let (status, _) = server
        .app_call(token, "event.test", json!({"auth_connector": "other"}))
        .await;
    assert_eq!(status, 200);
    let response = server
        .client()
        .post(format!("{}/rest/event.offline.get", server.base_url))
        .form(&[("auth", token.as_str())])
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(
        text.contains(r#""EVENT_DATA":{"QUERY":[],"LANGUAGE_ID":"en"}"#),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    let event = &body["result"]["events"][0];
    let expected = json!({
        "process_id": null,
        "events": [{
            "ID": "1",
            "TIMESTAMP_X": event["TIMESTAMP_X"],
            "EVENT_NAME": "ONAPPTEST",
            "EVENT_DATA": {"QUERY": [], "LANGUAGE_ID": "en"},
            "EVENT_ADDITIONAL": {"user_id": "1"},
            "MESSAGE_ID": event["MESSAGE_ID"],
        }],
    });
    assert_success(&body, &expected, true);
}

/// Fact 7: floats are written as PHP writes them, so a duration under 0.0001 s (a quick
/// `batch` sub-call) takes PHP's exponent form (`3.4e-5`), never `0.000034`.
#[tokio::test]
async fn small_durations_are_written_with_php_exponents() {
    let server = TestServer::start().await;
    let cmd = vec!["user.admin"; 20];
    let response = server
        .client()
        .post(format!("{}batch", server.webhook_url))
        .json(&json!({"cmd": cmd}))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(!text.contains(":0.0000"), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["result"]["result"], json!(vec![true; 20]));
    for time in body["result"]["result_time"].as_array().unwrap() {
        let duration = time["duration"].as_f64().unwrap();
        let finish = time["finish"].as_f64().unwrap();
        let start = time["start"].as_f64().unwrap();
        assert!((finish - start - duration).abs() < 1e-6, "{time}");
    }
}

/// Fact 7: U+2028 and U+2029 in a string are written `\u2028` and `\u2029`, the only non-ASCII
/// characters PHP's encoder escapes with its flags.
#[tokio::test]
async fn line_terminators_are_escaped_as_php_does() {
    let server = TestServer::start().await;
    let label = "a\u{2028}b\u{2029}c Я";
    let add = json!({"fields": {"FIELD_NAME": "LT", "USER_TYPE_ID": "string", "LABEL": label}});
    let (status, body) = server.call("crm.contact.userfield.add", add).await;
    assert_eq!(status, 200, "{body}");
    let url = format!(
        "{}crm.contact.userfield.get?id={}",
        server.webhook_url, body["result"]
    );
    let text = server.get_text(&url).await;
    assert!(
        text.contains(r#""EDIT_FORM_LABEL":{"ar":"a\u2028b\u2029c Я","#),
        "{text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["result"]["EDIT_FORM_LABEL"]["en"], label);
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
}

/// Start-up and management guards: the bound address is printed even behind `--public-url`,
/// a malformed public URL or a certificate without `--tls` is refused, the admin key is private,
/// and a management command pointed at a folder with no database refuses to create a portal.
#[tokio::test]
async fn start_up_and_management_guards() {
    let server = TestServer::start_with(&["--public-url", "https://b24.example.com/"]).await;
    assert!(
        server.base_url.starts_with("http://127.0.0.1:"),
        "{}",
        server.base_url
    );
    assert_eq!(
        server.printed("public url: ").await,
        "https://b24.example.com"
    );
    assert!(
        server
            .webhook_url
            .starts_with("https://b24.example.com/rest/1/")
    );
    let health = server
        .client()
        .get(format!("{}/healthz", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = server.data_dir.path().join("admin.key");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "admin.key is readable by others: {mode:o}");
    }

    let binary = env!("CARGO_BIN_EXE_b24lite");
    let run = |args: &[&str]| {
        let output = std::process::Command::new(binary)
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let missing = server.data_dir.path().join("no-such-folder");
    let missing = missing.to_str().unwrap();
    let (ok, stderr) = run(&[
        "webhook", "add", "--data", missing, "--user", "1", "--scope", "crm",
    ]);
    assert!(!ok && stderr.contains("no b24lite database"), "{stderr}");
    assert!(
        !std::path::Path::new(missing).exists(),
        "no folder was created"
    );
    // A mistyped SQLite URL is refused the same way.
    let typo = format!("sqlite://{missing}.db");
    let (ok, stderr) = run(&["user", "add", "--database-url", &typo, "--name", "X"]);
    assert!(!ok && stderr.contains("no b24lite database at"), "{stderr}");
    assert!(!std::path::Path::new(&format!("{missing}.db")).exists());
    let (ok, stderr) = run(&["serve", "--data", missing, "--public-url", "notaurl"]);
    assert!(!ok && stderr.contains("not an http(s) URL"), "{stderr}");
    let (ok, stderr) = run(&[
        "serve",
        "--data",
        missing,
        "--tls-cert",
        "/x.pem",
        "--tls-key",
        "/x.key",
    ]);
    assert!(!ok && stderr.contains("--tls"), "{stderr}");
}
