//! The request-rate limit over real HTTP (`rest-protocol.md` §10.2, decision 10).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::utils::TestServer;

fn query_limit() -> (u16, Value) {
    (
        503,
        json!({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}),
    )
}

#[tokio::test]
async fn the_sixth_quick_call_is_refused() {
    // Drain 0.01/s: nothing drains during the test, whatever the machine's speed.
    let server = TestServer::start_with(&["--rate-limit", "0.01:5"]).await;
    for i in 0..5 {
        assert_eq!(
            server.call("server.time", json!({})).await.0,
            200,
            "call {i}"
        );
    }
    assert_eq!(server.call("server.time", json!({})).await, query_limit());
    assert_eq!(server.call("profile", json!({})).await, query_limit());
    // Another webhook has its own bucket.
    let other = server.cli(&["webhook", "add", "--user", "1", "--scope", "user"]);
    assert_eq!(server.get(&format!("{}profile", other.trim())).await.0, 200);
}

#[tokio::test]
async fn a_batch_counts_once() {
    let server = TestServer::start_with(&["--rate-limit", "0.01:5"]).await;
    let cmd: Vec<&str> = vec!["server.time"; 20];
    let (status, body) = server.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["result"].as_array().unwrap().len(), 20);
    for _ in 0..4 {
        assert_eq!(server.call("profile", json!({})).await.0, 200);
    }
    assert_eq!(server.call("profile", json!({})).await, query_limit());
}

#[tokio::test]
async fn refused_calls_do_not_fill_the_bucket() {
    let server = TestServer::start_with(&["--rate-limit", "2:5"]).await;
    let mut refused = 0;
    for _ in 0..30 {
        if server.call("server.time", json!({})).await.0 == 503 {
            refused += 1;
        }
    }
    assert!(refused >= 15, "only {refused} of 30 quick calls refused");
    // Had the refused calls counted, the bucket would need 10 s or more to drain; it needs
    // half a second per place.
    let started = Instant::now();
    loop {
        let (status, _) = server.call("server.time", json!({})).await;
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "still refused after 3 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
