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

#[tokio::test]
async fn batch_sub_calls_count_in_their_own_methods_budget() {
    // A zero budget: a method's first call passes, every later one finds it exceeded.
    let server = TestServer::start_with(&["--operating-limit", "0"]).await;
    let blocked = json!({"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit."});
    let (status, body) = server
        .call(
            "batch",
            json!({"cmd": {"a": "profile", "b": "profile", "t": "server.time"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["result"]["a"]["ID"], "1");
    assert!(body["result"]["result"]["t"].is_string());
    assert_eq!(body["result"]["result_error"], json!({"b": blocked}));
    // The sub-call used profile's budget for this webhook; the outer batch used none.
    assert_eq!(
        server.call("profile", json!({})).await,
        (429, blocked.clone())
    );
    assert_eq!(
        server.call("batch", json!({"cmd": ["user.admin"]})).await.0,
        200
    );
    assert_eq!(server.call("user.admin", json!({})).await, (429, blocked));
    let other = server.cli(&["webhook", "add", "--user", "1", "--scope", "user"]);
    assert_eq!(server.get(&format!("{}profile", other.trim())).await.0, 200);
}

#[tokio::test]
async fn operating_time_adds_up_per_method() {
    let server = TestServer::start().await;
    let (_, first) = server.call("profile", json!({})).await;
    let operating = |body: &Value| body["time"]["operating"].as_f64().unwrap();
    let duration = |body: &Value| body["time"]["duration"].as_f64().unwrap();
    assert!(
        (operating(&first) - duration(&first)).abs() < 1e-9,
        "{first}"
    );
    let cmd: Vec<&str> = vec!["profile"; 10];
    server.call("batch", json!({"cmd": cmd})).await;
    let (_, later) = server.call("profile", json!({})).await;
    assert!(
        operating(&later) > operating(&first) + duration(&later),
        "earlier calls and sub-calls count: {later}"
    );
    let reset_at = later["time"]["operating_reset_at"].as_i64().unwrap();
    assert_eq!(
        reset_at,
        first["time"]["start"].as_f64().unwrap() as i64 + 600
    );
}
