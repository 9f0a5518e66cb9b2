//! Signed deliveries (Standard Webhooks) end to end: the `webhook-*` headers of a signed
//! outgoing webhook's deliveries, checked with an HMAC implementation independent of the
//! server's (the `hmac` and `sha2` crates; the server uses ring) over the exact bytes received;
//! switching signing on and off and rotating the secret from the CLI and the admin API; and
//! `b24lite listen --sign`.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::delivery::{ADD, advance, deliveries, fields, settled};
use crate::receiver::{Received, Receiver};
use crate::utils::TestServer;

const SIGNATURE_HEADERS: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];

/// What a Standard Webhooks receiver computes for a delivery: `v1,` and the base64 of the
/// HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed with the decoded secret.
fn expected_signature(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let encoded = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    let key = STANDARD.decode(encoded).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Asserts that `request` is signed with `secret`, with the body's `ts` as its timestamp, and
/// returns its `webhook-id`.
fn assert_signed(request: &Received, secret: &str) -> String {
    for name in SIGNATURE_HEADERS {
        assert_eq!(request.headers.get_all(name).iter().count(), 1, "{name}");
    }
    let id = request.header("webhook-id");
    let timestamp = request.header("webhook-timestamp");
    assert_eq!(timestamp, request.decoded()["ts"].as_str().unwrap());
    let expected = expected_signature(secret, &id, &timestamp, &request.body);
    assert_eq!(request.header("webhook-signature"), expected);
    id
}

fn assert_unsigned(request: &Received) {
    for name in SIGNATURE_HEADERS {
        assert!(request.headers.get(name).is_none(), "{name} sent unsigned");
    }
}

fn assert_is_secret(secret: &str) {
    let encoded = secret.strip_prefix("whsec_").expect("a whsec_ secret");
    assert_eq!(STANDARD.decode(encoded).unwrap().len(), 32, "{secret}");
}

async fn webhook(server: &TestServer, id: &str) -> Value {
    let (status, hook) = server
        .admin("GET", &format!("/admin/outgoing-webhooks/{id}"), None)
        .await;
    assert_eq!(status, 200, "{hook}");
    hook
}

#[tokio::test]
async fn signed_deliveries_verify_and_keep_their_id_across_retries_and_redeliveries() {
    let server = TestServer::start_with(&["--allow-clock-control"]).await;
    let signed_receiver = Receiver::start().await;
    let plain_receiver = Receiver::start().await;
    let body = json!({"url": signed_receiver.url, "events": [ADD], "policy": "retry",
                      "signing": true});
    let (status, signed) = server
        .admin("POST", "/admin/outgoing-webhooks", Some(body))
        .await;
    assert_eq!(status, 201, "{signed}");
    let secret = signed["signing_secret"].as_str().unwrap().to_string();
    assert_is_secret(&secret);
    let signed_id = signed["id"].to_string();
    assert_eq!(webhook(&server, &signed_id).await, signed);
    let body = json!({"url": plain_receiver.url, "events": [ADD], "signing": false});
    let (status, plain) = server
        .admin("POST", "/admin/outgoing-webhooks", Some(body))
        .await;
    assert_eq!((status, &plain["signing_secret"]), (201, &Value::Null));

    // The first attempt fails, so the retry policy sends the delivery again.
    signed_receiver.answer_status(503);
    server.record_event(ADD, fields(1, "UF_CRM_A"), "r1").await;
    let unsigned = plain_receiver.wait_for(1).await;
    assert_unsigned(&unsigned[0]);
    let mut names: Vec<&str> = unsigned[0].headers.keys().map(|n| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "accept",
            "content-length",
            "content-type",
            "host",
            "user-agent"
        ]
    );

    let first = signed_receiver.wait_for(1).await.remove(0);
    let message_id = assert_signed(&first, &secret);
    let query = format!("webhook_id={signed_id}");
    let delivery_id = deliveries(&server, &query).await[0]["id"].as_i64().unwrap();
    assert_eq!(message_id, format!("msg_{delivery_id}"));
    let forged = expected_signature(
        &secret,
        &message_id,
        &first.header("webhook-timestamp"),
        b"",
    );
    assert_ne!(first.header("webhook-signature"), forged);

    // The retry, 10 s later on the server's clock: same id, the new `ts`, a new signature.
    signed_receiver.answer_status(200);
    advance(&server, 10).await;
    let retried = signed_receiver.wait_for(2).await.remove(1);
    assert_eq!(assert_signed(&retried, &secret), message_id);
    let ts = |request: &Received| request.header("webhook-timestamp").parse::<i64>().unwrap();
    assert!(ts(&retried) >= ts(&first) + 10);
    settled(&server, &query, 1, "delivered").await;

    // A redelivery of the same delivery keeps its id too.
    let path = format!("/admin/deliveries/{delivery_id}/redeliver");
    assert_eq!(server.admin("POST", &path, None).await.0, 200);
    let again = signed_receiver.wait_for(3).await.remove(2);
    assert_eq!(assert_signed(&again, &secret), message_id);

    // Another delivery gets another id.
    server.record_event(ADD, fields(2, "UF_CRM_B"), "r2").await;
    let next = signed_receiver.wait_for(4).await.remove(3);
    assert_ne!(assert_signed(&next, &secret), message_id);
    assert_unsigned(&plain_receiver.wait_for(2).await[1]);
}

#[tokio::test]
async fn signing_is_switched_on_rotated_and_off_from_the_cli_and_the_admin_api() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let url = receiver.url.as_str();
    let added = server.cli(&["outgoing", "add", "--url", url, "--event", ADD, "--sign"]);
    let columns: Vec<&str> = added.trim_end().split('\t').collect();
    let [id, token, first_secret] = columns[..] else {
        panic!("not ID, TOKEN, SECRET: {added:?}");
    };
    assert_eq!(token.len(), 32);
    assert_is_secret(first_secret);
    let listed = server.cli(&["outgoing", "list"]);
    assert_eq!(
        listed,
        format!("{id}\tenabled\tbitrix\t{url}\t{token}\t{ADD}=1\n")
    );
    let plain = server.cli(&["outgoing", "add", "--url", url, "--event", ADD]);
    let (plain_id, _) = plain.trim_end().split_once('\t').unwrap();
    assert!(!plain.trim_end().contains("whsec_") && plain.matches('\t').count() == 1);
    server.cli(&["outgoing", "delete", plain_id]);

    // Each delivery is signed with the secret the webhook has when it is sent.
    let mut sent = 0;
    let mut send = async |n: i64| {
        sent += 1;
        let request = format!("r{n}");
        server
            .record_event(ADD, fields(n, "UF_CRM_A"), &request)
            .await;
        receiver.wait_for(sent).await.remove(sent - 1)
    };
    assert_signed(&send(1).await, first_secret);

    let rotated = server.cli(&["outgoing", "sign", id]);
    let second_secret = rotated.trim_end();
    assert_is_secret(second_secret);
    assert_ne!(second_secret, first_secret);
    assert_eq!(webhook(&server, id).await["signing_secret"], second_secret);
    let request = send(2).await;
    let message_id = assert_signed(&request, second_secret);
    let old = expected_signature(
        first_secret,
        &message_id,
        &request.header("webhook-timestamp"),
        &request.body,
    );
    assert_ne!(request.header("webhook-signature"), old);

    // Through the admin API: rotate, then `"signing": true` keeps the secret it has.
    let rotate = format!("/admin/outgoing-webhooks/{id}/rotate-secret");
    let (status, hook) = server.admin("POST", &rotate, None).await;
    assert_eq!(status, 200, "{hook}");
    let third_secret = hook["signing_secret"].as_str().unwrap().to_string();
    assert_ne!(third_secret, second_secret);
    let path = format!("/admin/outgoing-webhooks/{id}");
    let (status, hook) = server
        .admin("PATCH", &path, Some(json!({"signing": true})))
        .await;
    assert_eq!(
        (status, hook["signing_secret"].as_str()),
        (200, Some(&*third_secret))
    );
    assert_signed(&send(3).await, &third_secret);

    // Unsigned from the CLI: the headers are gone, and there is nothing to rotate.
    assert_eq!(server.cli(&["outgoing", "unsign", id]), "");
    assert_eq!(webhook(&server, id).await["signing_secret"], Value::Null);
    assert_unsigned(&send(4).await);
    let (status, refused) = server.admin("POST", &rotate, None).await;
    assert_eq!((status, &refused["error"]), (409, &json!("SIGNING_OFF")));

    // On again through PATCH, with a fresh secret, then off.
    let (_, hook) = server
        .admin("PATCH", &path, Some(json!({"signing": true})))
        .await;
    let fourth_secret = hook["signing_secret"].as_str().unwrap().to_string();
    assert_is_secret(&fourth_secret);
    assert_ne!(fourth_secret, third_secret);
    assert_signed(&send(5).await, &fourth_secret);
    let (_, hook) = server
        .admin("PATCH", &path, Some(json!({"signing": false})))
        .await;
    assert_eq!(hook["signing_secret"], Value::Null);
    assert_unsigned(&send(6).await);
    settled(&server, "", 6, "delivered").await;
}

#[tokio::test]
async fn signing_refusals_are_errors_not_panics() {
    let server = TestServer::start().await;
    for command in ["sign", "unsign"] {
        let (success, stderr) = server.cli_result(&["outgoing", command, "99"]);
        assert!(!success);
        assert!(
            stderr.contains("no outgoing webhook with id 99"),
            "{stderr}"
        );
    }
    let (status, body) = server
        .admin("POST", "/admin/outgoing-webhooks/99/rotate-secret", None)
        .await;
    assert_eq!((status, &body["error"]), (404, &json!("NOT_FOUND")));
    let (status, body) = server
        .admin("POST", "/admin/outgoing-webhooks/x/rotate-secret", None)
        .await;
    assert_eq!((status, &body["error"]), (400, &json!("INVALID_PATH")));
    let (status, body) = server
        .admin(
            "PATCH",
            "/admin/outgoing-webhooks/99",
            Some(json!({"signing": true})),
        )
        .await;
    assert_eq!((status, &body["error"]), (404, &json!("NOT_FOUND")));

    let bad = json!({"url": "http://127.0.0.1:1/", "events": [ADD], "signing": "yes"});
    let (status, body) = server
        .admin("POST", "/admin/outgoing-webhooks", Some(bad))
        .await;
    assert_eq!(
        (status, &body["error"]),
        (422, &json!("INVALID_BODY")),
        "{body}"
    );
    let good = json!({"url": "http://127.0.0.1:1/", "events": [ADD]});
    let (_, hook) = server
        .admin("POST", "/admin/outgoing-webhooks", Some(good))
        .await;
    let path = format!("/admin/outgoing-webhooks/{}", hook["id"]);
    let (status, body) = server
        .admin("PATCH", &path, Some(json!({"signing": 1})))
        .await;
    assert_eq!(
        (status, &body["error"]),
        (422, &json!("INVALID_BODY")),
        "{body}"
    );
    assert_eq!(webhook(&server, &hook["id"].to_string()).await, hook);
}

#[tokio::test]
async fn b24lite_listen_with_sign_checks_each_signature() {
    let server = TestServer::start().await;
    let forward = Receiver::start().await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_b24lite"));
    command
        .args(["listen", "--sign", "--forward", &forward.url, "--data"])
        .arg(server.data_dir.path())
        .stdout(std::process::Stdio::piped());
    if let Some(url) = server.database.url() {
        command.args(["--database-url", &url]);
    }
    let mut child = ListenGuard(command.spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (lines, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = lines.send(line.unwrap());
        }
    });
    let next = || receiver.recv_timeout(Duration::from_secs(15)).unwrap();
    let banner = next();
    let (_, rest) = banner.split_once(" as outgoing webhook ").expect(&banner);
    let (id, rest) = rest.split_once(' ').unwrap();
    let secret = rest
        .strip_suffix(')')
        .and_then(|rest| rest.split_once(", signing secret "))
        .map(|(_, secret)| secret.to_string())
        .expect(&banner);
    assert_is_secret(&secret);
    assert_eq!(
        webhook(&server, id).await["signing_secret"],
        secret.as_str()
    );

    // Valid, and forwarded with its headers, so the handler behind can check it too.
    server.record_event(ADD, fields(1, "UF_CRM_A"), "r1").await;
    let printed: Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(printed["signature"], "valid", "{printed}");
    assert_eq!(printed["event"], ADD);
    let forwarded = forward.wait_for(1).await;
    assert_signed(&forwarded[0], &secret);

    // Rotated behind its back: listen still holds the old secret, so the signature is invalid.
    server.cli(&["outgoing", "sign", id]);
    server.record_event(ADD, fields(2, "UF_CRM_B"), "r2").await;
    let printed: Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(printed["signature"], "invalid", "{printed}");
    assert_eq!(printed["data"]["FIELDS"]["ID"], "2");
    settled(&server, "", 2, "delivered").await;
}

/// Stops `b24lite listen` however the test ends, so no process outlives a failed assertion.
struct ListenGuard(std::process::Child);

impl Drop for ListenGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
