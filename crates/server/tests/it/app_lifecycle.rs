//! An application's whole life against b24lite, played by a real local HTTP application: it is
//! installed and receives `ONAPPINSTALL` with its tokens, finishes installation, binds the four
//! contact-field events, receives them and checks `application_token`, refreshes its token after
//! expiry (moved clock), reads its offline queue in both `clear` modes after an `ONOFFLINEEVENT`
//! notice, unbinds, and receives `ONAPPUNINSTALL`.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Map, Value, json};

use crate::receiver::eventually;
use crate::utils::{APP_AUTH_KEYS, TestServer, keys_of};

const FIELD_EVENTS: [&str; 4] = [
    "ONCRMCONTACTUSERFIELDADD",
    "ONCRMCONTACTUSERFIELDUPDATE",
    "ONCRMCONTACTUSERFIELDDELETE",
    "ONCRMCONTACTUSERFIELDSETENUMVALUES",
];

/// What the application keeps: the install payload's tokens and every event it accepted.
#[derive(Default)]
struct Memory {
    install_auth: Option<Map<String, Value>>,
    accepted: Vec<Value>,
    rejected: usize,
}

/// The application's HTTP side: `/install` takes `ONAPPINSTALL` and keeps its `auth`; `/events`
/// accepts deliveries whose `application_token` is the one it was installed with (401 else).
struct LocalApp {
    base: String,
    memory: Arc<Mutex<Memory>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalApp {
    async fn start() -> LocalApp {
        let memory = Arc::new(Mutex::new(Memory::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/install", post(on_install))
            .route("/events", post(on_event))
            .with_state(memory.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        LocalApp { base, memory, task }
    }

    fn auth(&self, key: &str) -> String {
        let memory = self.memory.lock().unwrap();
        let auth = memory.install_auth.as_ref().expect("installed");
        auth[key].as_str().unwrap().to_string()
    }

    fn accepted(&self) -> Vec<Value> {
        self.memory.lock().unwrap().accepted.clone()
    }

    async fn wait_for_events(&self, n: usize) -> Vec<Value> {
        eventually(&format!("{n} events at the application"), || async {
            let accepted = self.accepted();
            (accepted.len() >= n).then_some(accepted)
        })
        .await
    }
}

fn decode(body: &[u8]) -> Value {
    Value::Object(b24lite_core::params::parse_form(body).unwrap())
}

async fn on_install(State(memory): State<Arc<Mutex<Memory>>>, body: Bytes) -> StatusCode {
    let view = decode(&body);
    let mut memory = memory.lock().unwrap();
    memory.accepted.push(view.clone());
    if view["event"] == "ONAPPINSTALL" {
        memory.install_auth = view["auth"].as_object().cloned();
    }
    StatusCode::OK
}

async fn on_event(State(memory): State<Arc<Mutex<Memory>>>, body: Bytes) -> StatusCode {
    let view = decode(&body);
    let mut memory = memory.lock().unwrap();
    let expected = memory
        .install_auth
        .as_ref()
        .map(|auth| auth["application_token"].clone());
    if expected.as_ref() == Some(&view["auth"]["application_token"]) {
        memory.accepted.push(view);
        StatusCode::OK
    } else {
        memory.rejected += 1;
        StatusCode::UNAUTHORIZED
    }
}

async fn webhook(server: &TestServer, method: &str, params: Value) -> Value {
    let (status, body) = server.call(method, params).await;
    assert_eq!(status, 200, "{method}: {body}");
    body["result"].clone()
}

#[tokio::test]
async fn an_application_lives_through_install_events_refresh_offline_and_uninstall() {
    let server = TestServer::start_with(&["--allow-clock-control"]).await;
    let app = LocalApp::start().await;

    // Register and install (with an installer UI, so installation waits for `installFinish`).
    let new = json!({"name": "Field watcher", "handler": format!("{}/install", app.base), "scopes": "crm"});
    let (status, registered) = server.admin("POST", "/admin/apps", Some(new)).await;
    assert_eq!(status, 201, "{registered}");
    let client_id = registered["client_id"].as_str().unwrap().to_string();
    let client_secret = registered["client_secret"].as_str().unwrap().to_string();
    let path = format!("/admin/apps/{client_id}/install");
    let (status, answer) = server
        .admin("POST", &path, Some(json!({"user_id": 1, "ui": true})))
        .await;
    assert_eq!(status, 200, "{answer}");

    // ONAPPINSTALL: the full auth block with a refresh token, sent before installFinish.
    let install = &app.wait_for_events(1).await[0];
    assert_eq!(install["event"], "ONAPPINSTALL");
    assert_eq!(
        install["data"],
        json!({"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "N", "LANGUAGE_ID": "en"})
    );
    let mut with_refresh = APP_AUTH_KEYS.to_vec();
    with_refresh.insert(10, "refresh_token");
    assert_eq!(keys_of(&install["auth"]), with_refresh);
    assert_eq!(
        install["auth"]["application_token"],
        registered["application_token"]
    );
    assert_eq!(install["auth"]["member_id"], answer["member_id"]);
    assert_eq!(
        (&install["auth"]["scope"], &install["auth"]["user_id"]),
        (&json!("crm"), &json!("1"))
    );
    let token = app.auth("access_token");

    // The application binds the four field events with the token it was given.
    for event in FIELD_EVENTS {
        let bind = json!({"event": event, "handler": format!("{}/events", app.base)});
        let (status, body) = server.app_call(&token, "event.bind", bind).await;
        assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    }

    // Until installation finishes, its events are dropped (decision 27).
    let list = json!({"FIELD_NAME": "EARLY", "USER_TYPE_ID": "string"});
    webhook(
        &server,
        "crm.contact.userfield.add",
        json!({"fields": list}),
    )
    .await;
    let log = server.cli(&["deliveries", "list", "--status", "dropped"]);
    assert!(
        log.contains("ONCRMCONTACTUSERFIELDADD") && log.contains("installation not finished"),
        "{log}"
    );
    let (status, info) = server.app_call(&token, "app.info", json!({})).await;
    assert_eq!((status, &info["result"]["INSTALLED"]), (200, &json!(false)));

    let path = format!("/admin/apps/{client_id}/finish");
    let (status, finished) = server.admin("POST", &path, None).await;
    assert_eq!((status, &finished["install_finished"]), (200, &json!(true)));
    let (_, info) = server.app_call(&token, "app.info", json!({})).await;
    assert_eq!(info["result"]["INSTALLED"], json!(true));

    // The portal's user changes fields: the application receives all four events.
    let fields = json!({"fields": {
        "FIELD_NAME": "COLOUR", "USER_TYPE_ID": "enumeration",
        "LIST": [{"VALUE": "Red"}, {"VALUE": "Blue"}]
    }});
    let id = webhook(&server, "crm.contact.userfield.add", fields).await;
    let label = json!({"id": id, "fields": {"EDIT_FORM_LABEL": "Colour"}});
    webhook(&server, "crm.contact.userfield.update", label).await;
    webhook(&server, "crm.contact.userfield.delete", json!({"id": id})).await;
    let received = app.wait_for_events(5).await;
    let names: Vec<&str> = received[1..]
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ONCRMCONTACTUSERFIELDADD",
            "ONCRMCONTACTUSERFIELDSETENUMVALUES",
            "ONCRMCONTACTUSERFIELDUPDATE",
            "ONCRMCONTACTUSERFIELDDELETE"
        ]
    );
    for event in &received[1..] {
        assert_eq!(event["data"]["FIELDS"]["FIELD_NAME"], "UF_CRM_COLOUR");
        assert_eq!(event["auth"]["user_id"], "1");
        assert!(!keys_of(&event["auth"]).contains(&"refresh_token"));
    }
    assert_eq!(app.memory.lock().unwrap().rejected, 0);

    // An hour later the access token has expired; the application refreshes it.
    let (status, _) = server
        .admin(
            "POST",
            "/admin/clock/advance",
            Some(json!({"seconds": 3601})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = server.app_call(&token, "app.info", json!({})).await;
    assert_eq!((status, &body["error"]), (401, &json!("expired_token")));
    let refresh = format!(
        "{}/oauth/token/?grant_type=refresh_token&client_id={client_id}&client_secret={client_secret}&refresh_token={}",
        server.base_url,
        app.auth("refresh_token")
    );
    let (status, fresh) = server.get(&refresh).await;
    assert_eq!(status, 200, "{fresh}");
    let token = fresh["access_token"].as_str().unwrap().to_string();
    assert_eq!(server.app_call(&token, "app.info", json!({})).await.0, 200);

    // Offline: the application binds UPDATE offline and ONOFFLINEEVENT online (no pacing).
    let offline = json!({"event": "ONCRMCONTACTUSERFIELDUPDATE", "event_type": "offline"});
    let notice = json!({"event": "onOfflineEvent", "handler": format!("{}/events", app.base), "options": {"minTimeout": 0}});
    for bind in [offline, notice] {
        let (status, body) = server.app_call(&token, "event.bind", bind).await;
        assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    }
    let text = json!({"fields": {"FIELD_NAME": "NOTE", "USER_TYPE_ID": "string"}});
    let note = webhook(&server, "crm.contact.userfield.add", text).await;
    let update = json!({"id": note, "fields": {"MANDATORY": "Y"}});
    webhook(&server, "crm.contact.userfield.update", update).await;
    let received = app.wait_for_events(8).await;
    let notice = received
        .iter()
        .find(|e| e["event"] == "ONOFFLINEEVENT")
        .expect("an ONOFFLINEEVENT notice");
    assert!(
        notice.get("data").is_none(),
        "empty data is left out: {notice}"
    );
    assert!(keys_of(&notice["auth"]).contains(&"refresh_token"));

    // clear=0: records are reserved under a process id, then cleared with it.
    let (status, got) = server
        .app_call(&token, "event.offline.get", json!({"clear": 0}))
        .await;
    assert_eq!(status, 200, "{got}");
    let process_id = got["result"]["process_id"].as_str().unwrap().to_string();
    let events = got["result"]["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{got}");
    assert_eq!(events[0]["EVENT_NAME"], "ONCRMCONTACTUSERFIELDUPDATE");
    let clear = json!({"process_id": process_id});
    let (status, cleared) = server.app_call(&token, "event.offline.clear", clear).await;
    assert_eq!(
        (status, &cleared["result"]),
        (200, &json!(true)),
        "{cleared}"
    );

    // clear=1 (the default): records are returned and gone at once.
    let again = json!({"id": note, "fields": {"MANDATORY": "N"}});
    webhook(&server, "crm.contact.userfield.update", again).await;
    let (_, got) = server
        .app_call(&token, "event.offline.get", json!({}))
        .await;
    assert_eq!(got["result"]["process_id"], Value::Null, "{got}");
    assert_eq!(got["result"]["events"].as_array().unwrap().len(), 1);
    let (_, listed) = server
        .app_call(&token, "event.offline.list", json!({}))
        .await;
    assert_eq!(listed["result"], json!([]), "{listed}");

    // Unbinding stops the deliveries: a change queues nothing for the application.
    for event in FIELD_EVENTS {
        let unbind = json!({"event": event, "handler": format!("{}/events", app.base)});
        let (_, body) = server.app_call(&token, "event.unbind", unbind).await;
        assert_eq!(body["result"], json!({"count": 1}), "{event}: {body}");
    }
    let before = server.cli(&["deliveries", "list"]).lines().count();
    webhook(&server, "crm.contact.userfield.delete", json!({"id": note})).await;
    let after = server.cli(&["deliveries", "list"]).lines().count();
    assert_eq!(before, after, "no handler of the application is left");

    // Uninstall: ONAPPUNINSTALL with the portal keys only; the tokens stop working.
    let uninstall = json!({"event": "ONAPPUNINSTALL", "handler": format!("{}/events", app.base)});
    assert_eq!(
        server.app_call(&token, "event.bind", uninstall).await.1["result"],
        json!(true)
    );
    let path = format!("/admin/apps/{client_id}/uninstall");
    let (status, _) = server
        .admin("POST", &path, Some(json!({"clean": true})))
        .await;
    assert_eq!(status, 200);
    let goodbye = eventually("ONAPPUNINSTALL at the application", || async {
        let accepted = app.accepted();
        accepted
            .into_iter()
            .find(|e| e["event"] == "ONAPPUNINSTALL")
    })
    .await;
    assert_eq!(goodbye["data"], json!({"LANGUAGE_ID": "en", "CLEAN": "1"}));
    assert_eq!(
        keys_of(&goodbye["auth"]),
        [
            "domain",
            "server_endpoint",
            "client_endpoint",
            "member_id",
            "application_token"
        ]
    );
    let (status, body) = server.app_call(&token, "app.info", json!({})).await;
    assert_eq!((status, &body["error"]), (401, &json!("invalid_token")));
}

/// `ONOFFLINEEVENT` with `minTimeout`: the first change notifies at once, later ones within the
/// window get one trailing notice when it ends (decision 33), never two waiting.
#[tokio::test]
async fn offline_notices_are_paced_by_min_timeout() {
    let server = TestServer::start_with(&["--allow-clock-control"]).await;
    let receiver = crate::receiver::Receiver::start().await;
    let token = server.install_app("crm", &[]).access_token;
    let offline = json!({"event": "ONCRMCONTACTUSERFIELDUPDATE", "event_type": "offline"});
    let notice =
        json!({"event": "ONOFFLINEEVENT", "handler": receiver.url, "options": {"minTimeout": 30}});
    for bind in [offline, notice] {
        let (status, body) = server.app_call(&token, "event.bind", bind).await;
        assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    }
    let text = json!({"fields": {"FIELD_NAME": "PACED", "USER_TYPE_ID": "string"}});
    let id = webhook(&server, "crm.contact.userfield.add", text).await;
    let update = |mandatory: &str| json!({"id": id, "fields": {"MANDATORY": mandatory}});

    webhook(&server, "crm.contact.userfield.update", update("Y")).await;
    let first = receiver.wait_for(1).await[0].decoded();
    assert_eq!(first["event"], "ONOFFLINEEVENT");
    webhook(&server, "crm.contact.userfield.update", update("N")).await;
    webhook(&server, "crm.contact.userfield.update", update("Y")).await;
    let waiting = server.cli(&["deliveries", "list", "--status", "pending"]);
    assert_eq!(
        waiting
            .lines()
            .filter(|l| l.contains("ONOFFLINEEVENT"))
            .count(),
        1,
        "one trailing notice waits for the window's end: {waiting}"
    );
    assert_eq!(receiver.requests().len(), 1);

    let (status, _) = server
        .admin("POST", "/admin/clock/advance", Some(json!({"seconds": 30})))
        .await;
    assert_eq!(status, 200);
    let notices = receiver.wait_for(2).await;
    assert_eq!(notices[1].decoded()["event"], "ONOFFLINEEVENT");
    let (_, listed) = server
        .app_call(&token, "event.offline.list", json!({}))
        .await;
    assert_eq!(listed["total"], json!(1), "the repeats merged: {listed}");
}

/// An application without installer UI is installed at once (`INSTALLED` `Y`); lifecycle steps
/// refuse what cannot be done, from the CLI and the admin API alike.
#[tokio::test]
async fn lifecycle_refusals_and_an_application_without_ui() {
    let server = TestServer::start().await;
    let app = LocalApp::start().await;
    let new = json!({"name": "No UI", "handler": format!("{}/install", app.base), "scopes": ["crm", "user"]});
    let (_, registered) = server.admin("POST", "/admin/apps", Some(new)).await;
    let client_id = registered["client_id"].as_str().unwrap().to_string();
    assert_eq!(registered["scopes"], json!(["crm", "user"]));

    let uninstall = format!("/admin/apps/{client_id}/uninstall");
    let (status, body) = server.admin("POST", &uninstall, None).await;
    assert_eq!((status, &body["error"]), (409, &json!("NOT_INSTALLED")));
    let install = format!("/admin/apps/{client_id}/install");
    let (status, body) = server
        .admin("POST", &install, Some(json!({"user_id": 99})))
        .await;
    assert_eq!(
        (status, &body["error"]),
        (404, &json!("NOT_FOUND")),
        "{body}"
    );
    // Only administrators install applications.
    server.cli(&["user", "add", "--name", "Ann"]);
    let (status, body) = server
        .admin("POST", &install, Some(json!({"user_id": 2})))
        .await;
    assert_eq!(
        (status, &body["error"]),
        (403, &json!("NOT_ADMIN")),
        "{body}"
    );
    let by_user = server.cli_result(&["app", "install", "--client-id", &client_id, "--user", "2"]);
    assert!(
        !by_user.0 && by_user.1.contains("not an administrator"),
        "{by_user:?}"
    );

    let (status, _) = server.admin("POST", &install, None).await;
    assert_eq!(status, 200);
    let installed = &app.wait_for_events(1).await[0];
    assert_eq!(installed["data"]["INSTALLED"], "Y");
    assert_eq!(installed["auth"]["scope"], "crm,user");
    let (status, body) = server.admin("POST", &install, None).await;
    assert_eq!((status, &body["error"]), (409, &json!("ALREADY_INSTALLED")));
    let again = server.cli_result(&["app", "install", "--client-id", &client_id]);
    assert!(
        !again.0 && again.1.contains("already installed"),
        "{again:?}"
    );
    let unknown = server.cli_result(&["app", "finish", "--client-id", "local.nope"]);
    assert!(
        !unknown.0 && unknown.1.contains("no application"),
        "{unknown:?}"
    );

    let (status, body) = server
        .admin(
            "POST",
            "/admin/apps",
            Some(json!({"name": "x", "handler": "ftp://x", "scopes": "crm"})),
        )
        .await;
    assert_eq!((status, &body["error"]), (400, &json!("INVALID_URL")));
    let (status, body) = server.admin("GET", "/admin/apps/local.nope", None).await;
    assert_eq!((status, &body["error"]), (404, &json!("NOT_FOUND")));
    let (status, listed) = server.admin("GET", "/admin/apps", None).await;
    assert_eq!((status, listed[0]["installed"].clone()), (200, json!(true)));
}

/// Under the private-target policy `event.bind` refuses what Bitrix24 refuses (decision 29).
#[tokio::test]
async fn private_handlers_are_refused_under_the_target_policy() {
    let server = TestServer::start_with(&["--refuse-private-targets"]).await;
    let token = server.install_app("crm", &[]).access_token;
    for handler in [
        "http://localhost/h",
        "http://intranet/h",
        "http://127.0.0.1:9/h",
        "http://[::1]/h",
        "http://10.1.2.3/h",
        // The host is judged before the scheme.
        "ftp://localhost/h",
    ] {
        let bind = json!({"event": "ONCRMCONTACTUSERFIELDADD", "handler": handler});
        let (status, body) = server.app_call(&token, "event.bind", bind).await;
        assert_eq!(
            (status, body),
            (
                400,
                json!({"error": "ERROR_WRONG_HANDLER_URL", "error_description": "Wrong handler URL"})
            ),
            "{handler}"
        );
    }
    let bind =
        json!({"event": "ONCRMCONTACTUSERFIELDADD", "handler": "https://hooks.example.com/h"});
    let (status, body) = server.app_call(&token, "event.bind", bind).await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
}

/// A new version: `ONAPPUPDATE` with both versions and a refresh token; handlers and tokens stay.
#[tokio::test]
async fn an_update_keeps_handlers_and_tokens() {
    let server = TestServer::start().await;
    let app = LocalApp::start().await;
    let new =
        json!({"name": "Updated", "handler": format!("{}/install", app.base), "scopes": "crm"});
    let (_, registered) = server.admin("POST", "/admin/apps", Some(new)).await;
    let client_id = registered["client_id"].as_str().unwrap().to_string();
    server
        .admin("POST", &format!("/admin/apps/{client_id}/install"), None)
        .await;
    app.wait_for_events(1).await;
    let token = app.auth("access_token");
    let bind = json!({"event": "onAppUpdate", "handler": format!("{}/events", app.base)});
    assert_eq!(
        server.app_call(&token, "event.bind", bind).await.1["result"],
        json!(true)
    );

    assert_eq!(
        server
            .cli(&["app", "update", "--client-id", &client_id])
            .trim(),
        "2"
    );
    let update = app.wait_for_events(2).await[1].clone();
    assert_eq!(update["event"], "ONAPPUPDATE");
    assert_eq!(
        update["data"],
        json!({"VERSION": "2", "PREVIOUS_VERSION": "1", "LANGUAGE_ID": "en"})
    );
    assert!(keys_of(&update["auth"]).contains(&"refresh_token"));
    let (status, info) = server.app_call(&token, "app.info", json!({})).await;
    assert_eq!((status, &info["result"]["VERSION"]), (200, &json!(2)));
    let (_, bound) = server.app_call(&token, "event.get", json!({})).await;
    assert_eq!(bound["result"].as_array().unwrap().len(), 2, "{bound}");

    let path = format!("/admin/apps/{client_id}/update");
    let (status, body) = server
        .admin("POST", &path, Some(json!({"version": 2})))
        .await;
    assert_eq!((status, &body["error"]), (409, &json!("OLD_VERSION")));
}
