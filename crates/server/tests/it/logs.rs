//! Request logs: one line per call with method, user, status and latency; never a token, a
//! parameter or a body.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::protocol::post_raw;
use crate::utils::TestServer;

/// The server's stderr, captured in a file while it runs with `RUST_LOG=trace` and JSON logs.
struct LoggedServer {
    server: TestServer,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn start_logged() -> LoggedServer {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let file = std::fs::File::create(&log).unwrap();
    let server = TestServer::start_with_env(
        &["--log-format", "json"],
        &[("RUST_LOG", "trace")],
        Stdio::from(file),
    )
    .await;
    LoggedServer {
        server,
        log,
        _dir: dir,
    }
}

fn read_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[tokio::test]
async fn one_line_per_call_and_no_secrets() {
    let logged = start_logged().await;
    let server = &logged.server;
    let token = server
        .webhook_url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    server
        .get(&format!("{}profile?marker=querysecret", server.webhook_url))
        .await;
    let url = format!("{}batch", server.webhook_url);
    let form = "application/x-www-form-urlencoded";
    post_raw(server, &url, form, "cmd[a]=scope&note=bodysecret").await;
    server
        .get(&format!("{}/rest/1/{token}x/profile", server.base_url))
        .await;
    server
        .get(&format!("{}/rest/{token}", server.base_url))
        .await;
    let (status, _) = server
        .get(&format!(
            "{}/rest/profile?auth=oauthsecret",
            server.base_url
        ))
        .await;
    assert_eq!(status, 401);

    // Wait until the five calls are logged.
    let started = Instant::now();
    let calls = loop {
        let calls: Vec<Value> = read_lines(&logged.log)
            .into_iter()
            .filter(|line| line["message"] == "rest call")
            .collect();
        if calls.len() >= 5 || started.elapsed() > Duration::from_secs(10) {
            break calls;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let summary: Vec<(Value, Value, Value)> = calls
        .iter()
        .map(|c| {
            let span = &c["span"];
            (
                span["method"].clone(),
                span["user"].clone(),
                c["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!("profile"), json!(1), json!(200)),
            (json!("batch"), json!(1), json!(200)),
            (json!("profile"), Value::Null, json!(401)),
            (json!("-"), Value::Null, json!(404)),
            (json!("profile"), Value::Null, json!(401)),
        ]
    );
    assert!(calls.iter().all(|c| c["latency_ms"].is_f64()));
    let text = std::fs::read_to_string(&logged.log).unwrap();
    for secret in [token.as_str(), "querysecret", "bodysecret", "oauthsecret"] {
        assert!(!text.contains(secret), "'{secret}' appears in the log");
    }
}
