//! Event delivery end to end: events recorded in the store (as the userfield methods do inside
//! their transactions), outgoing webhooks configured through the admin API and the CLI, and a
//! real handler on loopback that records every request.

use std::time::Duration;

use serde_json::{Value, json};

use crate::receiver::{Behaviour, Receiver, eventually};
use crate::utils::{TestServer, new_event};

pub(crate) const ADD: &str = "ONCRMCONTACTUSERFIELDADD";
const UPDATE: &str = "ONCRMCONTACTUSERFIELDUPDATE";
const DELETE: &str = "ONCRMCONTACTUSERFIELDDELETE";
const SETENUM: &str = "ONCRMCONTACTUSERFIELDSETENUMVALUES";

/// The `data` of a contact-field event (fact 63).
pub(crate) fn fields(id: i64, name: &str) -> Value {
    json!({"FIELDS": {"ID": id, "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": name}})
}

struct Hook {
    id: i64,
    token: String,
    /// `event_handler_id` per event, in the order given.
    handlers: Vec<i64>,
}

async fn add_webhook(server: &TestServer, url: &str, events: &[&str], policy: &str) -> Hook {
    let body = json!({"url": url, "events": events, "policy": policy});
    let (status, hook) = server
        .admin("POST", "/admin/outgoing-webhooks", Some(body))
        .await;
    assert_eq!(status, 201, "{hook}");
    Hook {
        id: hook["id"].as_i64().unwrap(),
        token: hook["application_token"].as_str().unwrap().to_string(),
        handlers: hook["handlers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_i64().unwrap())
            .collect(),
    }
}

pub(crate) async fn deliveries(server: &TestServer, query: &str) -> Vec<Value> {
    let (status, list) = server
        .admin("GET", &format!("/admin/deliveries?{query}"), None)
        .await;
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

/// Waits until the delivery list for `query` has `n` rows, all with `status`.
pub(crate) async fn settled(
    server: &TestServer,
    query: &str,
    n: usize,
    status: &str,
) -> Vec<Value> {
    eventually(&format!("{n} {status} deliveries for {query}"), || async {
        let list = deliveries(server, query).await;
        (list.len() == n && list.iter().all(|d| d["status"] == status)).then_some(list)
    })
    .await
}

async fn attempts(server: &TestServer, delivery_id: i64) -> Vec<Value> {
    let path = format!("/admin/deliveries/{delivery_id}/attempts");
    let (status, list) = server.admin("GET", &path, None).await;
    assert_eq!(status, 200);
    list.as_array().unwrap().clone()
}

async fn portal(server: &TestServer) -> b24lite_store::portal::Portal {
    let store = server.open_store().await;
    let mut conn = store.pool().acquire().await.unwrap();
    b24lite_store::portal::get_portal(&mut conn).await.unwrap()
}

/// The body as PHP itself decodes it (`parse_str`, what `$_POST` holds), when `php` is
/// installed; `None` otherwise.
fn php_view(body: &[u8]) -> Option<Value> {
    use std::io::Write;
    let script = "parse_str(file_get_contents('php://stdin'), $a); echo json_encode($a);";
    let mut child = std::process::Command::new("php")
        .args(["-r", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

fn now() -> i64 {
    b24lite::clock::Clock::default().now()
}

#[tokio::test]
async fn webhook_delivery_has_the_exact_body_key_order_and_auth_block() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let hook = add_webhook(
        &server,
        &receiver.url,
        &["onCrmContactUserFieldAdd", SETENUM],
        "bitrix",
    )
    .await;
    let portal = portal(&server).await;

    // An enumeration field added: ADD, then SETENUMVALUES, in one transaction.
    let store = server.open_store().await;
    let mut tx = store.begin_write().await.unwrap();
    let t = now();
    for name in [ADD, SETENUM] {
        let event = new_event(name, fields(553, "UF_CRM_COLOR"), "req-1");
        b24lite_store::events::record(&mut tx, &event, t)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let before = now();
    let received = receiver.wait_for(2).await;
    let after = now();

    for (index, (event, handler)) in [(ADD, hook.handlers[0]), (SETENUM, hook.handlers[1])]
        .into_iter()
        .enumerate()
    {
        let request = &received[index];
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.header("content-type"),
            "application/x-www-form-urlencoded"
        );
        // As real deliveries carry it (open question 2 of the reference; third-party captures).
        assert_eq!(request.header("user-agent"), "Bitrix24 Webhook Engine");
        let view = request.decoded();
        if let Some(php) = php_view(&request.body) {
            assert_eq!(php, view, "PHP decodes the body differently");
        }
        let ts: i64 = view["ts"].as_str().unwrap().parse().unwrap();
        assert!((before - 1..=after).contains(&ts), "ts {ts} not when sent");
        let keys: Vec<&String> = view.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["event", "event_handler_id", "data", "ts", "auth"]);
        assert_eq!(
            view,
            json!({
                "event": event,
                "event_handler_id": handler.to_string(),
                "data": {"FIELDS": {
                    "ID": "553", "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": "UF_CRM_COLOR"
                }},
                "ts": ts.to_string(),
                "auth": {
                    "domain": portal.domain,
                    "client_endpoint": format!("{}/rest/", server.base_url),
                    "server_endpoint": format!("{}/rest/", server.base_url),
                    "member_id": portal.member_id,
                    "application_token": hook.token,
                }
            })
        );
        let endpoint = format!("{}/rest/", server.base_url)
            .replace(':', "%3A")
            .replace('/', "%2F");
        assert_eq!(
            request.text(),
            format!(
                "event={event}&event_handler_id={handler}\
                 &data%5BFIELDS%5D%5BID%5D=553&data%5BFIELDS%5D%5BENTITY_ID%5D=CRM_CONTACT\
                 &data%5BFIELDS%5D%5BFIELD_NAME%5D=UF_CRM_COLOR&ts={ts}\
                 &auth%5Bdomain%5D={}&auth%5Bclient_endpoint%5D={endpoint}\
                 &auth%5Bserver_endpoint%5D={endpoint}&auth%5Bmember_id%5D={}\
                 &auth%5Bapplication_token%5D={}",
                portal.domain.replace(':', "%3A"),
                portal.member_id,
                hook.token
            )
        );
    }
    assert!(
        hook.token.len() == 32
            && hook
                .token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );

    let list = settled(&server, &format!("webhook_id={}", hook.id), 2, "delivered").await;
    let tried = attempts(&server, list[0]["id"].as_i64().unwrap()).await;
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0]["http_status"], 200);
    assert_eq!(tried[0]["error_class"], Value::Null);
    assert_eq!(tried[0]["response_body"], "{\"status\":\"ok\"}");
}

#[tokio::test]
async fn a_handler_answering_500_gets_one_attempt_under_the_bitrix_policy() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour {
        status: 500,
        body: "boom".into(),
        ..Behaviour::default()
    });
    let hook = add_webhook(&server, &receiver.url, &[UPDATE], "bitrix").await;
    server
        .record_event(UPDATE, fields(7, "UF_CRM_A"), "r1")
        .await;

    let list = settled(&server, &format!("webhook_id={}", hook.id), 1, "failed").await;
    assert_eq!(list[0]["attempts"], 1);
    assert_eq!(list[0]["last_error"], "http_status: HTTP 500");
    assert_eq!(list[0]["next_attempt_at"], Value::Null);
    let tried = attempts(&server, list[0]["id"].as_i64().unwrap()).await;
    assert_eq!(tried.len(), 1);
    assert_eq!(tried[0]["http_status"], 500);
    assert_eq!(tried[0]["error_class"], "http_status");
    assert_eq!(tried[0]["response_body"], "boom");

    // A 202 is not a success either under this policy (decision 24).
    receiver.answer_status(202);
    server
        .record_event(UPDATE, fields(8, "UF_CRM_B"), "r2")
        .await;
    settled(&server, &format!("webhook_id={}", hook.id), 2, "failed").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        receiver.requests().len(),
        2,
        "no retry under the bitrix policy"
    );
}

#[tokio::test]
async fn timeouts_and_unreachable_handlers_are_recorded_as_failures() {
    let server = TestServer::start_with(&["--delivery-timeout", "0.5"]).await;
    let slow = Receiver::start().await;
    slow.set(Behaviour {
        delay: Duration::from_secs(3),
        ..Behaviour::default()
    });
    let down_url = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    let slow_hook = add_webhook(&server, &slow.url, &[DELETE], "bitrix").await;
    let down_hook = add_webhook(&server, &down_url, &[DELETE], "bitrix").await;
    server
        .record_event(DELETE, fields(9, "UF_CRM_GONE"), "r1")
        .await;

    for (hook, class) in [(&slow_hook, "timeout"), (&down_hook, "connect")] {
        let list = settled(&server, &format!("webhook_id={}", hook.id), 1, "failed").await;
        assert_eq!(list[0]["last_error"], class);
        let tried = attempts(&server, list[0]["id"].as_i64().unwrap()).await;
        assert_eq!(tried.len(), 1);
        assert_eq!(tried[0]["http_status"], Value::Null);
        assert_eq!(tried[0]["error_class"], class);
    }
    assert_eq!(slow.requests().len(), 1);
}

pub(crate) async fn advance(server: &TestServer, seconds: i64) -> i64 {
    let body = json!({"seconds": seconds});
    let (status, answer) = server
        .admin("POST", "/admin/clock/advance", Some(body))
        .await;
    assert_eq!(status, 200, "{answer}");
    answer["now"].as_i64().unwrap()
}

/// Waits for the `n`-th attempt of a delivery, then returns the delivery.
async fn after_attempt(server: &TestServer, receiver: &Receiver, id: i64, n: i64) -> Value {
    receiver.wait_for(n as usize).await;
    eventually(&format!("attempt {n} recorded"), || async {
        let (_, delivery) = server
            .admin("GET", &format!("/admin/deliveries/{id}"), None)
            .await;
        (delivery["attempts"] == n).then_some(delivery)
    })
    .await
}

#[tokio::test]
async fn the_retry_policy_follows_its_schedule_on_a_moved_clock() {
    let server = TestServer::start_with(&["--allow-clock-control"]).await;
    let receiver = Receiver::start().await;
    receiver.answer_status(503);
    let hook = add_webhook(&server, &receiver.url, &[ADD], "retry").await;
    let started = now();
    server.record_event(ADD, fields(1, "UF_CRM_R"), "r1").await;
    let list = settled(&server, &format!("webhook_id={}", hook.id), 1, "pending").await;
    let id = list[0]["id"].as_i64().unwrap();

    // Attempt 1 at once; then 5 s, 5 min, 30 min later, each ±20 %.
    let mut clock = started;
    for (n, delay) in [(1, 5), (2, 300), (3, 1800)] {
        let delivery = after_attempt(&server, &receiver, id, n).await;
        let next = delivery["next_attempt_at"].as_i64().unwrap();
        let low = clock + delay * 8 / 10;
        let high = now().max(clock) + 2 + delay * 12 / 10;
        assert!(
            (low..=high).contains(&next),
            "attempt {n}: next {next} not in {low}..{high}"
        );
        assert_eq!(delivery["status"], "pending");
        // Nothing is sent before the time comes.
        assert_eq!(receiver.requests().len(), n as usize);
        clock = advance(&server, next - clock + 1).await;
    }

    // Retry-After replaces the schedule's delay.
    receiver.set(Behaviour {
        status: 429,
        retry_after: Some(120),
        ..Behaviour::default()
    });
    let delivery = after_attempt(&server, &receiver, id, 4).await;
    let next = delivery["next_attempt_at"].as_i64().unwrap();
    assert!(
        (clock + 120..=clock + 122).contains(&next),
        "{next} vs {clock}"
    );

    // Any 2xx is a success under this policy.
    receiver.answer_status(204);
    advance(&server, 121).await;
    let list = settled(&server, &format!("webhook_id={}", hook.id), 1, "delivered").await;
    assert_eq!(list[0]["attempts"], 5);
    let classes: Vec<Value> = attempts(&server, id)
        .await
        .iter()
        .map(|a| a["http_status"].clone())
        .collect();
    assert_eq!(
        classes,
        [json!(503), json!(503), json!(503), json!(429), json!(204)]
    );
}

#[tokio::test]
async fn the_retry_policy_gives_up_when_the_schedule_ends() {
    let server = TestServer::start_with(&["--retry-schedule", "1,1"]).await;
    let receiver = Receiver::start().await;
    receiver.answer_status(500);
    let hook = add_webhook(&server, &receiver.url, &[ADD], "retry").await;
    server.record_event(ADD, fields(1, "UF_CRM_R"), "r1").await;
    let list = settled(&server, &format!("webhook_id={}", hook.id), 1, "failed").await;
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(receiver.requests().len(), 3);
}

#[tokio::test]
async fn pending_deliveries_survive_a_restart_and_none_is_sent_twice() {
    let args = ["--retry-schedule", "1,1,1,1,1,1,1,1"];
    let server = TestServer::start_with(&args).await;
    let receiver = Receiver::start().await;
    let hook = add_webhook(&server, &receiver.url, &[ADD, UPDATE], "retry").await;
    let query = format!("webhook_id={}", hook.id);

    // One delivered before the restart.
    server.record_event(ADD, fields(1, "UF_CRM_A"), "r1").await;
    settled(&server, &query, 1, "delivered").await;

    // One failing, so still pending when the server dies.
    receiver.answer_status(500);
    server
        .record_event(UPDATE, fields(1, "UF_CRM_A"), "r2")
        .await;
    receiver.wait_for(2).await;
    eventually("the failed attempt recorded", || async {
        let list = deliveries(&server, &format!("{query}&status=pending")).await;
        (list.len() == 1 && list[0]["attempts"] == 1).then_some(())
    })
    .await;
    let server = server.restart(&["--delivery-workers", "0"]).await;
    let server = {
        // Events committed while no worker runs wait in the store.
        server
            .record_event(UPDATE, fields(2, "UF_CRM_B"), "r3")
            .await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(receiver.requests().len(), 2);
        receiver.answer_status(200);
        server.restart(&args).await
    };
    let list = settled(&server, &query, 3, "delivered").await;
    let tries: Vec<Value> = list.iter().map(|d| d["attempts"].clone()).collect();
    assert_eq!(tries, [json!(1), json!(2), json!(1)]);

    // The handler saw ADD once, the failed UPDATE twice (500, then 200), the other once.
    let requests = receiver.requests();
    let mut seen: Vec<(String, String)> = requests
        .iter()
        .map(|r| r.decoded())
        .map(|v| {
            let id = v["data"]["FIELDS"]["ID"].as_str().unwrap().to_string();
            (v["event"].as_str().unwrap().to_string(), id)
        })
        .collect();
    seen.sort();
    let expected = [(ADD, "1"), (UPDATE, "1"), (UPDATE, "1"), (UPDATE, "2")];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(e, id)| (e.to_string(), id.to_string()))
        .collect();
    assert_eq!(seen, expected);
    let total_attempts: i64 = list.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
    assert_eq!(requests.len() as i64, total_attempts);
}

#[tokio::test]
async fn a_rolled_back_change_fires_nothing() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    add_webhook(&server, &receiver.url, &[ADD], "bitrix").await;

    let store = server.open_store().await;
    let mut tx = store.begin_write().await.unwrap();
    let event = new_event(ADD, fields(1, "UF_CRM_LOST"), "r1");
    b24lite_store::events::record(&mut tx, &event, now())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    server
        .record_event(ADD, fields(2, "UF_CRM_KEPT"), "r2")
        .await;

    let received = receiver.wait_for(1).await;
    assert_eq!(
        received[0].decoded()["data"]["FIELDS"]["FIELD_NAME"],
        "UF_CRM_KEPT"
    );
    let (_, events) = server.admin("GET", "/admin/events", None).await;
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["name"], ADD);
    assert_eq!(events[0]["data"], fields(2, "UF_CRM_KEPT"));
    settled(&server, "", 1, "delivered").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn identical_deliveries_of_one_request_collapse() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    add_webhook(&server, &receiver.url, &[UPDATE], "bitrix").await;
    let store = server.open_store().await;
    let mut tx = store.begin_write().await.unwrap();
    for (id, request) in [
        (5, "batch-1"),
        (5, "batch-1"),
        (6, "batch-1"),
        (5, "batch-2"),
    ] {
        let event = new_event(UPDATE, fields(id, "UF_CRM_X"), request);
        b24lite_store::events::record(&mut tx, &event, now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    settled(&server, "", 3, "delivered").await;
    let ids: Vec<Value> = receiver
        .wait_for(3)
        .await
        .iter()
        .map(|r| r.decoded()["data"]["FIELDS"]["ID"].clone())
        .collect();
    assert_eq!(ids, [json!("5"), json!("6"), json!("5")]);
}

#[tokio::test]
async fn outgoing_webhooks_are_managed_from_the_cli_while_the_server_runs() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    let added = server.cli(&[
        "outgoing",
        "add",
        "--url",
        &receiver.url,
        "--event",
        "onCrmContactUserFieldAdd",
        "--event",
        "ONCRMCONTACTUSERFIELDDELETE",
    ]);
    let (id, token) = added.trim().split_once('\t').unwrap();
    assert!(
        token.len() == 32
            && token
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    let listed = server.cli(&["outgoing", "list"]);
    assert_eq!(
        listed,
        format!(
            "{id}\tenabled\tbitrix\t{}\t{token}\t{ADD}=1,{DELETE}=2\n",
            receiver.url
        )
    );

    // Disabled: the event fans out to nobody.
    server.cli(&["outgoing", "disable", id]);
    server.record_event(ADD, fields(1, "UF_CRM_A"), "r1").await;
    server.cli(&["outgoing", "enable", id]);
    server
        .record_event(DELETE, fields(1, "UF_CRM_A"), "r2")
        .await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].decoded()["event"], DELETE);
    assert_eq!(received[0].decoded()["auth"]["application_token"], token);
    assert_eq!(received[0].decoded()["event_handler_id"], "2");
    settled(&server, "", 1, "delivered").await;
    let lines = server.cli(&["deliveries", "list"]);
    assert_eq!(lines, format!("1\t2\t{DELETE}\t2\tdelivered\t1\t-\t-\n"));

    server.cli(&["outgoing", "delete", id]);
    assert_eq!(server.cli(&["outgoing", "list"]), "");
    server
        .record_event(DELETE, fields(2, "UF_CRM_B"), "r3")
        .await;
    assert_eq!(deliveries(&server, "").await.len(), 1);
}

#[tokio::test]
async fn the_delivery_log_pages_and_lists_newest_first() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    add_webhook(&server, &receiver.url, &[ADD], "bitrix").await;
    for n in 1..=3 {
        let request = format!("r{n}");
        server
            .record_event(ADD, fields(n, "UF_CRM_A"), &request)
            .await;
    }
    receiver.wait_for(3).await;
    settled(&server, "", 3, "delivered").await;
    let ids = |args: &[&str]| {
        let mut command = vec!["deliveries", "list"];
        command.extend_from_slice(args);
        server
            .cli(&command)
            .lines()
            .map(|line| line.split('\t').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&[]), ["1", "2", "3"]);
    assert_eq!(ids(&["--newest", "--limit", "2"]), ["3", "2"]);
    assert_eq!(ids(&["--after", "1"]), ["2", "3"]);
    assert_eq!(ids(&["--since", "4102444800"]), Vec::<String>::new());
    let (ok, stderr) = server.cli_result(&["deliveries", "list", "--status", "bogus"]);
    assert!(!ok && stderr.contains("invalid value 'bogus'"), "{stderr}");
}

#[tokio::test]
async fn failed_deliveries_can_be_sent_again() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.answer_status(500);
    let hook = add_webhook(&server, &receiver.url, &[ADD], "bitrix").await;
    let since = now();
    for n in 1..=3 {
        server
            .record_event(ADD, fields(n, "UF_CRM_A"), &format!("r{n}"))
            .await;
    }
    let list = settled(&server, "", 3, "failed").await;
    receiver.answer_status(200);

    // One by id through the admin API.
    let first = list[0]["id"].as_i64().unwrap();
    let path = format!("/admin/deliveries/{first}/redeliver");
    assert_eq!(
        server.admin("POST", &path, None).await,
        (200, json!({"redelivered": true}))
    );
    settled(&server, "status=delivered", 1, "delivered").await;
    assert_eq!(attempts(&server, first).await.len(), 2);

    // Every failed one of the handler since a time, through the CLI.
    let handler = hook.handlers[0].to_string();
    let since = since.to_string();
    let count = server.cli(&["redeliver", "--handler", &handler, "--since", &since]);
    assert_eq!(count, "2\n");
    settled(&server, "", 3, "delivered").await;
    assert_eq!(receiver.requests().len(), 6);
    let (status, body) = server
        .admin("POST", "/admin/deliveries/99/redeliver", None)
        .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "NOT_FOUND", "error_description": "no such delivery"})
        )
    );
    let (ok, stderr) = server.cli_result(&["redeliver", "--delivery", "99"]);
    assert!(!ok && stderr.contains("no such delivery"), "{stderr}");

    // Once the webhook is deleted its deliveries could only be dropped: they are not queued.
    server.cli(&["outgoing", "delete", &hook.id.to_string()]);
    assert_eq!(
        server.admin("POST", &path, None).await,
        (
            409,
            json!({"error": "HANDLER_GONE", "error_description": "the delivery's handler was deleted"})
        )
    );
    let (ok, stderr) = server.cli_result(&["redeliver", "--delivery", &first.to_string()]);
    assert!(
        !ok && stderr.contains("its handler was deleted"),
        "{stderr}"
    );
    let (_, shown) = server
        .admin("GET", &format!("/admin/deliveries/{first}"), None)
        .await;
    assert_eq!(shown["status"], "delivered", "{shown}");
}

#[tokio::test]
async fn b24lite_listen_prints_each_delivery_and_forwards_it() {
    use std::io::{BufRead, BufReader};

    let server = TestServer::start().await;
    let forward = Receiver::start().await;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_b24lite"));
    command
        .args(["listen", "--forward", &forward.url, "--data"])
        .arg(server.data_dir.path())
        .stdout(std::process::Stdio::piped());
    if let Some(url) = server.database.url() {
        command.args(["--database-url", &url]);
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = lines.send(line.unwrap());
        }
    });
    let next = || receiver.recv_timeout(Duration::from_secs(15)).unwrap();
    let banner = next();
    assert!(
        banner.starts_with("listening on http://127.0.0.1:"),
        "{banner}"
    );

    server
        .record_event(SETENUM, fields(3, "UF_CRM_LIST"), "r1")
        .await;
    let printed: Value = serde_json::from_str(&next()).unwrap();
    assert_eq!(printed["event"], SETENUM);
    assert_eq!(
        printed["data"],
        json!({"FIELDS": {"ID": "3", "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": "UF_CRM_LIST"}})
    );
    let forwarded = forward.wait_for(1).await;
    assert_eq!(forwarded[0].decoded(), printed);
    settled(&server, "", 1, "delivered").await;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn the_admin_api_needs_its_key_and_metrics_count_the_work() {
    let server = TestServer::start().await;
    let url = format!("{}/admin/outgoing-webhooks", server.base_url);
    let response = server.client().get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = server
        .client()
        .get(&url)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let (status, body) = server
        .admin("POST", "/admin/clock/advance", Some(json!({"seconds": 5})))
        .await;
    assert_eq!(status, 404, "{body}");
    let bad = json!({"url": "http://127.0.0.1:1/", "events": ["ONCRMDEALADD"]});
    let (status, body) = server
        .admin("POST", "/admin/outgoing-webhooks", Some(bad))
        .await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("ERROR_EVENT_NOT_FOUND"))
    );

    let receiver = Receiver::start().await;
    add_webhook(&server, &receiver.url, &[ADD], "bitrix").await;
    server.record_event(ADD, fields(1, "UF_CRM_A"), "r1").await;
    settled(&server, "", 1, "delivered").await;
    let text = server
        .get_text(&format!("{}/metrics", server.base_url))
        .await;
    for line in [
        format!("b24lite_events_total{{event=\"{ADD}\"}} 1"),
        "b24lite_deliveries{status=\"delivered\"} 1".to_string(),
        "b24lite_queue_depth 0".to_string(),
        "b24lite_delivery_attempts_total{outcome=\"success\"} 1".to_string(),
        "b24lite_delivery_attempt_duration_seconds_count 1".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn private_targets_are_refused_when_the_setting_is_on() {
    let server = TestServer::start_with(&["--refuse-private-targets"]).await;
    let receiver = Receiver::start().await;
    let hook = add_webhook(&server, &receiver.url, &[ADD], "retry").await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let named = add_webhook(&server, &by_name, &[ADD], "retry").await;
    server.record_event(ADD, fields(1, "UF_CRM_A"), "r1").await;
    for hook in [&hook, &named] {
        let list = settled(&server, &format!("webhook_id={}", hook.id), 1, "dropped").await;
        assert_eq!(list[0]["last_error"], "refused_target");
    }
    assert_eq!(receiver.requests().len(), 0);
}

#[tokio::test]
async fn a_slow_handler_does_not_delay_the_others() {
    let server = TestServer::start().await;
    let slow = Receiver::start().await;
    slow.set(Behaviour {
        delay: Duration::from_secs(10),
        ..Behaviour::default()
    });
    let fast = Receiver::start().await;
    let slow_hook = add_webhook(&server, &slow.url, &[UPDATE], "bitrix").await;
    add_webhook(&server, &fast.url, &[UPDATE], "bitrix").await;
    let started = std::time::Instant::now();
    for n in 1..=5 {
        server
            .record_event(UPDATE, fields(n, "UF_CRM_A"), &format!("r{n}"))
            .await;
    }
    fast.wait_for(5).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(slow.requests().len() <= 1);
    let query = format!("webhook_id={}&status=pending", slow_hook.id);
    assert!(deliveries(&server, &query).await.len() >= 4);
}

#[tokio::test]
async fn a_delivery_in_flight_when_the_server_dies_is_sent_again_after_its_lease() {
    let server = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour {
        delay: Duration::from_secs(30),
        ..Behaviour::default()
    });
    add_webhook(&server, &receiver.url, &[ADD], "bitrix").await;
    server.record_event(ADD, fields(1, "UF_CRM_A"), "r1").await;
    receiver.wait_for(1).await;

    // Killed mid-request: the row stays leased, so a new server leaves it until the lease ends.
    let server = server.restart(&["--allow-clock-control"]).await;
    receiver.answer_status(200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.requests().len(), 1);
    advance(&server, 600).await;
    let list = settled(&server, "", 1, "delivered").await;
    assert_eq!(list[0]["attempts"], 1);
    assert_eq!(receiver.requests().len(), 2);
}

#[tokio::test]
async fn many_events_reach_each_handler_once_and_in_order() {
    let server = TestServer::start().await;
    let receivers = [Receiver::start().await, Receiver::start().await];
    for receiver in &receivers {
        add_webhook(&server, &receiver.url, &[ADD, UPDATE], "bitrix").await;
    }
    let store = server.open_store().await;
    let mut tx = store.begin_write().await.unwrap();
    for n in 0..200 {
        let name = if n % 2 == 0 { ADD } else { UPDATE };
        let event = new_event(name, fields(n, "UF_CRM_X"), &format!("r{n}"));
        b24lite_store::events::record(&mut tx, &event, now())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    for receiver in &receivers {
        let ids: Vec<i64> = receiver
            .wait_for(200)
            .await
            .iter()
            .map(|r| {
                r.decoded()["data"]["FIELDS"]["ID"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, (0..200).collect::<Vec<i64>>());
    }
    settled(&server, "limit=1000", 400, "delivered").await;
    assert_eq!(receivers[0].requests().len(), 200);
}

#[tokio::test]
async fn an_outgoing_webhook_can_be_changed_and_keeps_its_handler_ids() {
    let server = TestServer::start().await;
    let old = Receiver::start().await;
    let new = Receiver::start().await;
    let hook = add_webhook(&server, &old.url, &[ADD, UPDATE], "bitrix").await;
    let path = format!("/admin/outgoing-webhooks/{}", hook.id);
    let patch =
        json!({"url": new.url, "events": ["oncrmcontactuserfieldadd", DELETE], "policy": "retry"});
    let (status, changed) = server.admin("PATCH", &path, Some(patch)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["url"], new.url.as_str());
    assert_eq!(changed["policy"], "retry");
    assert_eq!(changed["application_token"], hook.token.as_str());
    assert_eq!(
        changed["handlers"][0],
        json!({"id": hook.handlers[0], "event": ADD})
    );
    assert_eq!(changed["handlers"][1]["event"], DELETE);
    assert_eq!(changed["handlers"].as_array().unwrap().len(), 2);

    server
        .record_event(UPDATE, fields(1, "UF_CRM_A"), "r1")
        .await;
    server
        .record_event(DELETE, fields(1, "UF_CRM_A"), "r2")
        .await;
    let received = new.wait_for(1).await;
    assert_eq!(received[0].decoded()["event"], DELETE);
    settled(&server, "", 1, "delivered").await;
    assert!(old.requests().is_empty());

    let bad = json!({"policy": "sometimes"});
    let (status, body) = server.admin("PATCH", &path, Some(bad)).await;
    assert_eq!((status, &body["error"]), (400, &json!("INVALID_POLICY")));
    let (status, _) = server.admin("DELETE", &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = server.admin("GET", &path, None).await;
    assert_eq!(status, 404);
}

/// The admin API answers malformed input in its own JSON format, never with axum's plain text;
/// an unknown path is a 404 without the key too; the clock cannot be pushed past its range.
#[tokio::test]
async fn admin_refusals_are_json_errors() {
    let server = TestServer::start_with(&["--allow-clock-control"]).await;
    let key = std::fs::read_to_string(server.data_dir.path().join("admin.key")).unwrap();
    let key = key.trim();
    let send = |method: reqwest::Method, path: &str| {
        server
            .client()
            .request(method, format!("{}{path}", server.base_url))
            .bearer_auth(key)
    };
    let cases = [
        (
            send(reqwest::Method::POST, "/admin/outgoing-webhooks")
                .header("content-type", "application/json")
                .body("{not json"),
            400,
            "INVALID_BODY",
        ),
        (
            send(reqwest::Method::POST, "/admin/outgoing-webhooks").body("url=x"),
            415,
            "INVALID_BODY",
        ),
        (
            send(reqwest::Method::POST, "/admin/outgoing-webhooks")
                .json(&json!({"url": "http://127.0.0.1:1/"})),
            422,
            "INVALID_BODY",
        ),
        (
            send(reqwest::Method::GET, "/admin/outgoing-webhooks/abc"),
            400,
            "INVALID_PATH",
        ),
        (
            send(reqwest::Method::GET, "/admin/deliveries?status=bogus"),
            400,
            "INVALID_STATUS",
        ),
        (
            send(reqwest::Method::GET, "/admin/events?limit=ten"),
            400,
            "INVALID_QUERY",
        ),
        (
            send(reqwest::Method::POST, "/admin/clock/advance").json(&json!({"seconds": i64::MAX})),
            400,
            "INVALID_SECONDS",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        let got = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!((got, &body["error"]), (status, &json!(code)), "{body}");
        assert!(body["error_description"].is_string(), "{body}");
    }
    let (status, now) = server
        .admin("POST", "/admin/clock/advance", Some(json!({"seconds": 0})))
        .await;
    assert_eq!(status, 200);
    assert!(
        now["now"].as_i64().unwrap() > 1_700_000_000,
        "the clock did not wrap: {now}"
    );

    let unknown = server
        .client()
        .get(format!("{}/no/such/page", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
}
