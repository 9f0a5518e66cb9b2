//! `batch` over real HTTP: encodings, references, `halt`, the 50-command limit, nesting.

use serde_json::{Value, json};

use crate::protocol::{assert_success, post_raw};
use crate::utils::{TestServer, keys_of};

const FOUND: &str = r#"{"isExisting":true,"isAvailable":true}"#;
const MISSING: &str = r#"{"isExisting":false,"isAvailable":false}"#;

fn found() -> Value {
    serde_json::from_str(FOUND).unwrap()
}

fn missing() -> Value {
    serde_json::from_str(MISSING).unwrap()
}

fn not_found() -> Value {
    json!({"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"})
}

/// The batch answer without `result_time`, which is checked apart (its values vary).
fn without_times(body: &Value) -> Value {
    let mut inner = body["result"].clone();
    inner.as_object_mut().unwrap().remove("result_time");
    inner
}

/// The keys of `result_time`, each entry checked for the six `time` keys of a sub-call.
fn time_keys(body: &Value) -> Vec<String> {
    match &body["result"]["result_time"] {
        Value::Array(items) => {
            items.iter().for_each(assert_sub_time);
            (0..items.len()).map(|i| i.to_string()).collect()
        }
        Value::Object(map) => {
            map.values().for_each(assert_sub_time);
            map.keys().cloned().collect()
        }
        other => panic!("result_time is {other}"),
    }
}

fn assert_sub_time(time: &Value) {
    let keys = keys_of(time);
    assert_eq!(
        keys,
        [
            "start",
            "finish",
            "duration",
            "processing",
            "date_start",
            "date_finish"
        ]
    );
}

#[tokio::test]
async fn references_pass_earlier_results_on() {
    let server = TestServer::start().await;
    let (status, body) = server
        .call(
            "batch",
            json!({"cmd": {
                "scopes": "scope",
                "bad": "no.such.method",
                "hook": "method.get?name=$result[scopes][1].current",
                "from_failed": "method.get?name=$result[bad][0]",
                "me": "profile",
                "by_field": "method.get?name=$result[me][ID]",
            }}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        without_times(&body),
        json!({
            "result": {
                "scopes": ["crm", "user"],
                "hook": found(),
                "from_failed": missing(),
                "me": {"ID": "1", "ADMIN": true, "NAME": "Admin", "LAST_NAME": "Admin",
                       "PERSONAL_GENDER": "", "TIME_ZONE": ""},
                "by_field": missing(),
            },
            "result_error": {"bad": not_found()},
            "result_total": [],
            "result_next": [],
        })
    );
    assert_eq!(
        time_keys(&body),
        ["scopes", "hook", "from_failed", "me", "by_field"]
    );
    // The outer call is not counted in operating time: its `time` has six keys.
    assert_success(&body, &body["result"], false);
}

#[tokio::test]
async fn form_encoded_commands_are_decoded_twice() {
    let server = TestServer::start().await;
    let url = format!("{}batch", server.webhook_url);
    let data = "cmd%5Bs%5D=scope\
                &cmd%5Bm%5D=method.get%3Fname%3D%2524result%255Bs%255D%255B1%255D.current\
                &cmd%5Bq%5D=method.get%3Fname%3D%24result%5Bs%5D%5B0%5D";
    let (status, body) = post_raw(&server, &url, "application/x-www-form-urlencoded", data).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["result"]["result"],
        json!({"s": ["crm", "user"], "m": found(), "q": missing()})
    );
    // The same through the query string of a GET.
    let (status, same) = server.get(&format!("{url}?{data}")).await;
    assert_eq!(
        (status, &same["result"]["result"]),
        (200, &body["result"]["result"])
    );
}

#[tokio::test]
async fn commands_as_a_list_give_lists() {
    let server = TestServer::start().await;
    let (status, body) = server
        .call(
            "batch",
            json!({"cmd": ["scope", "method.get?name=BATCH", "nope"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        without_times(&body),
        json!({
            "result": [["crm", "user"], found()],
            "result_error": {"2": not_found()},
            "result_total": [],
            "result_next": [],
        })
    );
    let (_, body) = server
        .call("batch", json!({"cmd": ["scope", "server.time"]}))
        .await;
    assert!(body["result"]["result"].is_array(), "{body}");
    assert_eq!(time_keys(&body), ["0", "1"]);
    assert!(body["result"]["result_time"].is_array());
}

#[tokio::test]
async fn halt_stops_at_the_first_error() {
    let server = TestServer::start().await;
    let cmd = json!({"a": "scope", "bad": "no.such", "c": "scope"});
    for halt in [json!(1), json!(true), json!("Y"), json!("1")] {
        let (status, body) = server
            .call("batch", json!({"halt": halt, "cmd": cmd}))
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            without_times(&body),
            json!({
                "result": {"a": ["crm", "user"]},
                "result_error": {"bad": not_found()},
                "result_total": [],
                "result_next": [],
            }),
            "halt {halt}"
        );
        assert_eq!(time_keys(&body), ["a"]);
    }
    for halt in [json!(0), json!(false), json!("N")] {
        let (_, body) = server
            .call("batch", json!({"halt": halt, "cmd": cmd}))
            .await;
        assert_eq!(
            body["result"]["result"],
            json!({"a": ["crm", "user"], "c": ["crm", "user"]}),
            "halt {halt}"
        );
    }
}

#[tokio::test]
async fn more_than_fifty_commands_run_the_first_fifty() {
    let server = TestServer::start().await;
    let cmd: Vec<&str> = vec!["user.admin"; 53];
    let (status, body) = server.call("batch", json!({"cmd": cmd})).await;
    assert_eq!(status, 200);
    let exceeded = json!({"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"});
    assert_eq!(
        without_times(&body),
        json!({
            "result": vec![true; 50],
            "result_error": {"50": exceeded, "51": exceeded, "52": exceeded},
            "result_total": [],
            "result_next": [],
        })
    );
    assert_eq!(time_keys(&body).len(), 50);
    // With halt, the first command over the limit is the first error: nothing after it.
    let (_, body) = server.call("batch", json!({"cmd": cmd, "halt": 1})).await;
    assert_eq!(body["result"]["result_error"], json!({"50": exceeded}));
}

#[tokio::test]
async fn batch_inside_batch_is_refused() {
    let server = TestServer::start().await;
    let (status, body) = server
        .call(
            "batch",
            json!({"cmd": {"inner": "batch?cmd[x]=scope", "upper": "BATCH.json", "ok": "user.admin"}}),
        )
        .await;
    assert_eq!(status, 200);
    let refused = json!({"error": "ERROR_BATCH_METHOD_NOT_ALLOWED", "error_description": "Method is not allowed for batch usage"});
    assert_eq!(
        without_times(&body),
        json!({
            "result": {"ok": true},
            "result_error": {"inner": refused, "upper": refused},
            "result_total": [],
            "result_next": [],
        })
    );
}

#[tokio::test]
async fn empty_maps_are_empty_lists() {
    let server = TestServer::start().await;
    let (status, body) = server.call("batch", json!({"cmd": {"x": "no.such"}})).await;
    assert_eq!(
        (status, body["result"].clone()),
        (
            200,
            json!({
                "result": [],
                "result_error": {"x": not_found()},
                "result_total": [],
                "result_next": [],
                "result_time": [],
            })
        )
    );
    let (status, body) = server.call("batch", json!({})).await;
    assert_eq!(
        (status, body["result"].clone()),
        (
            200,
            json!({"result": [], "result_error": [], "result_total": [], "result_next": [], "result_time": []})
        )
    );
}

#[tokio::test]
async fn sub_calls_use_the_callers_scopes() {
    let server = TestServer::start().await;
    let url = server.cli(&["webhook", "add", "--user", "1", "--scope", "crm"]);
    let url = format!("{}batch", url.trim());
    let (status, body) = server
        .get(&format!(
            "{url}?cmd[me]=profile&cmd[u]=user.current&cmd[own]=profile%3Fauth%3Dbogus"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["result"]["me"]["ID"], "1");
    // An `auth` inside a command changes nothing: the outer credentials are used.
    assert_eq!(body["result"]["result"]["own"]["ID"], "1");
    assert_eq!(
        body["result"]["result_error"],
        json!({"u": {"error": "insufficient_scope", "error_description": ""}})
    );
}
