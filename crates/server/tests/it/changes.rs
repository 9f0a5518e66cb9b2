//! Changes made by other processes reach a running server at once: CLI commands through the data
//! folder's control socket, other instances through PostgreSQL notifications. Every server here
//! trusts its caches for a minute and sweeps the delivery queue once a minute, so only the notices
//! can explain what the tests see within seconds.

use serde_json::{Value, json};

use crate::receiver::{Receiver, eventually};
use crate::utils::{TestServer, rest_error};

const PATIENT: &[&str] = &["--cache-ttl", "60", "--dispatch-sweep-ms", "60000"];

fn webhook_id(server: &TestServer, url: &str) -> String {
    let listed = server.cli(&["webhook", "list"]);
    let line = listed.lines().find(|line| line.ends_with(url)).unwrap();
    line.split('\t').next().unwrap().to_string()
}

#[tokio::test]
async fn what_the_cli_did_is_in_force_when_it_returns() {
    let server = TestServer::start_with(PATIENT).await;

    // A webhook the server has read and keeps, deleted by the CLI.
    let hook = server.cli(&["webhook", "add", "--user", "1", "--scope", "user"]);
    let hook = hook.trim();
    let profile = format!("{hook}profile");
    assert_eq!(server.get(&profile).await.0, 200);
    assert_eq!(server.get(&profile).await.0, 200);
    server.cli(&["webhook", "delete", &webhook_id(&server, hook)]);
    assert_eq!(
        server.get(&profile).await,
        (
            401,
            rest_error("INVALID_CREDENTIALS", "Invalid request credentials")
        )
    );

    // An event the CLI records (ONAPPINSTALL at install) goes out at once, not at the sweep.
    let receiver = Receiver::start().await;
    let added = server.cli(&[
        "app",
        "add",
        "--name",
        "Notified",
        "--handler",
        &receiver.url,
        "--scope",
        "crm",
    ]);
    let client_id = added.lines().next().unwrap().to_string();
    let started = std::time::Instant::now();
    server.cli(&["app", "install", "--client-id", &client_id]);
    let received = receiver.wait_for(1).await;
    assert_eq!(received[0].decoded()["event"], "ONAPPINSTALL");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "ONAPPINSTALL took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_read_only_command_changes_nothing_it_should_not() {
    // Telling the server of a `list` makes it read again what it keeps, nothing more.
    let server = TestServer::start_with(PATIENT).await;
    assert_eq!(server.call("profile", json!({})).await.0, 200);
    server.cli(&["webhook", "list"]);
    let (status, body) = server.call("profile", json!({})).await;
    assert_eq!((status, &body["result"]["ID"]), (200, &json!("1")));
}

fn label(answer: &(u16, Value)) -> Value {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1["result"]["EDIT_FORM_LABEL"]["en"].clone()
}

#[tokio::test]
async fn instances_see_each_others_changes_at_once() {
    let Some(servers) = TestServer::start_together(2, PATIENT).await else {
        eprintln!("skipped: several instances need PostgreSQL (B24LITE_TEST_POSTGRES_URL)");
        return;
    };
    let (first, second) = (&servers[0], &servers[1]);

    // A field definition the second instance keeps, changed through the first.
    let (status, added) = first
        .call(
            "crm.contact.userfield.add",
            json!({"fields": {"FIELD_NAME": "SHARED", "USER_TYPE_ID": "string",
                              "EDIT_FORM_LABEL": {"en": "Before"}}}),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    let id = added["result"].clone();
    let get = json!({"id": id});
    assert_eq!(
        label(&second.call("crm.contact.userfield.get", get.clone()).await),
        "Before"
    );
    let (status, _) = first
        .call(
            "crm.contact.userfield.update",
            json!({"id": id, "fields": {"EDIT_FORM_LABEL": {"en": "After"}}}),
        )
        .await;
    assert_eq!(status, 200);
    eventually("the second instance to show the new label", || async {
        let answer = second.call("crm.contact.userfield.get", get.clone()).await;
        (label(&answer) == "After").then_some(())
    })
    .await;

    // A webhook the second instance keeps, deleted through the first instance's CLI.
    let hook = first.cli(&["webhook", "add", "--user", "1", "--scope", "user"]);
    let hook = hook.trim();
    // The printed URL names whichever instance set the portal's address last.
    let path = &hook[hook.find("/rest/").unwrap()..];
    let on_second = format!("{}{path}", second.base_url);
    assert_eq!(second.get(&format!("{on_second}profile")).await.0, 200);
    first.cli(&["webhook", "delete", &webhook_id(first, hook)]);
    eventually(
        "the second instance to refuse the deleted webhook",
        || async { (second.get(&format!("{on_second}profile")).await.0 == 401).then_some(()) },
    )
    .await;
    drop(servers);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_folder_is_refused() {
    let server = TestServer::start().await;
    let mut second = tokio::process::Command::new(env!("CARGO_BIN_EXE_b24lite"));
    second
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(server.data_dir.path());
    if let Some(url) = server.database.url() {
        second.args(["--database-url", &url]);
    }
    second.kill_on_drop(true);
    let output = tokio::time::timeout(std::time::Duration::from_secs(20), second.output())
        .await
        .expect("the second server kept running")
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("another b24lite server is running"),
        "{stderr}"
    );

    // Nor does naming its SQLite file from another folder get round it.
    if server.database.url().is_none() {
        let other = tempfile::tempdir().unwrap();
        let file = server.data_dir.path().join("b24lite.db");
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_b24lite"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(other.path())
            .arg("--database-url")
            .arg(format!("sqlite://{}", file.display()))
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(std::time::Duration::from_secs(20), output)
            .await
            .expect("the second server kept running")
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("another b24lite server uses"), "{stderr}");
    }

    // The first server's address is still the portal's.
    let hook = server.cli(&["webhook", "add", "--user", "1", "--scope", "user"]);
    assert!(hook.starts_with(&server.base_url), "{hook}");
    assert_eq!(server.get(&format!("{}profile", hook.trim())).await.0, 200);
}
