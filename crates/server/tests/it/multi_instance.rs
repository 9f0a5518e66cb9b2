//! Several `b24lite serve` processes on one PostgreSQL database: one rate and operating-time
//! budget, refresh tokens spent once however the instances race, a portal prepared once by
//! instances starting together, wake-ups across instances, and a delivery queue that loses
//! nothing when an instance is killed. Racing calls through several instances: one FIELD_NAME
//! added once, enumeration items appended without loss, one rate bucket, one offline record per
//! changed object, and tokens minted during an uninstall revoked for good. Instances share only
//! PostgreSQL (one process owns a SQLite file): on SQLite the tests that need several instances
//! print a note and return, and the racing-call tests race inside one server.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use sqlx::{Connection, PgConnection, Row};

use crate::receiver::{Behaviour, Receiver};
use crate::utils::{InstalledApp, TestServer};

const ADD: &str = "ONCRMCONTACTUSERFIELDADD";

/// Instances on one database. Fields drop in order: the siblings stop before `first` drops the
/// database.
struct Cluster {
    siblings: Vec<TestServer>,
    first: TestServer,
}

impl Cluster {
    /// `n` instances started together with the same flags on a fresh PostgreSQL database;
    /// `None`, after a note, on SQLite.
    async fn start(test: &str, n: usize, args: &[&str]) -> Option<Cluster> {
        if std::env::var("B24LITE_TEST_POSTGRES_URL").is_err() {
            eprintln!(
                "{test}: skipped: instances share a PostgreSQL database only (set B24LITE_TEST_POSTGRES_URL)"
            );
            return None;
        }
        let mut siblings = TestServer::start_together(n, args).await.unwrap();
        let first = siblings.remove(0);

        // They started together, yet prepared one portal: the same default webhook on each.
        let token = |server: &TestServer| server.webhook_url[server.base_url.len()..].to_string();
        for sibling in &siblings {
            assert_eq!(token(sibling), token(&first));
        }
        Some(Cluster { siblings, first })
    }

    fn all(&self) -> Vec<&TestServer> {
        std::iter::once(&self.first).chain(&self.siblings).collect()
    }

    async fn db(&self) -> PgConnection {
        let url = self.first.database.url().unwrap();
        PgConnection::connect(&url).await.unwrap()
    }
}

#[tokio::test]
async fn instances_count_one_rate_budget() {
    let test = "instances_count_one_rate_budget";
    // A bucket of 10 that drains once in 10 s: it stays full while the test runs.
    let Some(cluster) = Cluster::start(test, 2, &["--rate-limit", "0.1:10"]).await else {
        return;
    };
    let servers = cluster.all();

    // Ten calls alternating over the two instances fill the credential's one bucket...
    for n in 0..10 {
        let (status, body) = servers[n % 2].call("server.time", json!({})).await;
        assert_eq!(status, 200, "call {n}: {body}");
    }

    // ...so the eleventh is refused by either instance, as a single server would refuse it.
    for server in &servers {
        let (status, body) = server.call("server.time", json!({})).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("QUERY_LIMIT_EXCEEDED")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn instances_count_one_operating_budget() {
    let test = "instances_count_one_operating_budget";
    // A zero budget: a method's first call passes, every later one finds it exceeded.
    let Some(cluster) = Cluster::start(test, 2, &["--operating-limit", "0"]).await else {
        return;
    };
    let (first, second) = (&cluster.first, &cluster.siblings[0]);
    assert_eq!(first.call("profile", json!({})).await.0, 200);
    let (status, body) = second.call("profile", json!({})).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (429, Some("OPERATION_TIME_LIMIT"))
    );
    // Another method has a budget of its own, counted on both instances alike.
    assert_eq!(second.call("user.admin", json!({})).await.0, 200);
    assert_eq!(first.call("user.admin", json!({})).await.0, 429);
}

/// Starts a refresh on `server` as a task of its own, so that several race.
fn refresh(
    server: &TestServer,
    app: &InstalledApp,
    refresh_token: &str,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let url = format!(
        "{}/oauth/token/?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={refresh_token}",
        server.base_url, app.client_id, app.client_secret
    );
    let client = server.client().clone();
    tokio::spawn(async move { crate::utils::decode(client.get(url).send().await.unwrap()).await })
}

/// Runs on both stores: on PostgreSQL the requests race across two instances, on SQLite within
/// one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_token_is_spent_once_when_requests_race() {
    let first = TestServer::start().await;
    let sibling = first.start_sibling(&[]).await;
    let servers = [&first, sibling.as_ref().unwrap_or(&first)];
    let app = first.install_app("crm", &[]);

    let mut refresh_token = app.tokens["refresh_token"].as_str().unwrap().to_string();
    for round in 0..10 {
        let requests: Vec<_> = (0..4)
            .map(|n| refresh(servers[n % 2], &app, &refresh_token))
            .collect();
        let mut answers = Vec::new();
        for request in requests {
            answers.push(request.await.unwrap());
        }
        let (won, lost): (Vec<_>, Vec<_>) = answers.into_iter().partition(|(s, _)| *s == 200);
        assert_eq!(won.len(), 1, "round {round}: {won:?} {lost:?}");
        for (status, body) in &lost {
            assert_eq!(
                (*status, body["error"].as_str()),
                (400, Some("invalid_grant"))
            );
        }
        refresh_token = won[0].1["refresh_token"].as_str().unwrap().to_string();
    }
}

/// Runs on both stores: an uninstall through one instance revokes the tokens on every other at
/// once (the access token is looked up in the store on each call, never cached).
#[tokio::test]
async fn an_uninstall_revokes_tokens_on_every_instance() {
    let first = TestServer::start().await;
    let sibling = first.start_sibling(&[]).await;
    let other = sibling.as_ref().unwrap_or(&first);
    let app = first.install_app("crm", &[]);
    let (status, _) = other
        .app_call(&app.access_token, "app.info", json!({}))
        .await;
    assert_eq!(status, 200);

    let path = format!("/admin/apps/{}/uninstall", app.client_id);
    let (status, body) = first.admin("POST", &path, None).await;
    assert_eq!(status, 200, "{body}");
    let answer = other
        .app_call(&app.access_token, "app.info", json!({}))
        .await;
    let invalid = json!({"error": "invalid_token", "error_description": "The access token provided is invalid."});
    assert_eq!(answer, (401, invalid));
}

/// Offline records in the reservation race below.
const OFFLINE_RECORDS: i64 = 240;

/// Runs on both stores: readers reserving the offline queue at the same time through two
/// instances (`event.offline.get` with `clear=0`) get disjoint records that add up to the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_offline_readers_reserve_disjoint_records() {
    let first = TestServer::start().await;
    let sibling = first.start_sibling(&[]).await;
    let servers = [&first, sibling.as_ref().unwrap_or(&first)];
    let app = first.install_app("crm", &[]);
    let bind = json!({"event": ADD, "event_type": "offline"});
    let (status, body) = first.app_call(&app.access_token, "event.bind", bind).await;
    assert_eq!(status, 200, "{body}");

    // One record per field, written as changes made outside REST would be.
    let store = first.open_store().await;
    let mut tx = store.begin_write().await.unwrap();
    for id in 1..=OFFLINE_RECORDS {
        let data = json!({"FIELDS": {"ID": id, "ENTITY_ID": "CRM_CONTACT", "FIELD_NAME": format!("UF_CRM_R{id}")}});
        let event = crate::utils::new_event(ADD, data, &format!("offline-{id}"));
        let now = b24lite::clock::Clock::default().now();
        b24lite_store::events::record(&mut tx, &event, now)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    store.close().await;

    // Eight readers, four per instance, each reserving batches of 25 until the queue is empty.
    let readers = (0..8).map(|n| {
        let url = format!("{}/rest/event.offline.get", servers[n % 2].base_url);
        let client = servers[n % 2].client().clone();
        let token = app.access_token.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let params = json!({"auth": token, "clear": 0, "limit": 25});
                let response = client.post(&url).json(&params).send().await.unwrap();
                let (status, body) = crate::utils::decode(response).await;
                assert_eq!(status, 200, "{body}");
                let events = body["result"]["events"].as_array().unwrap().clone();
                if events.is_empty() {
                    return mine;
                }
                mine.extend(events.iter().map(|e| e["ID"].as_str().unwrap().to_string()));
            }
        })
    });
    let mut seen = HashSet::new();
    let mut total = 0;
    for reader in readers.collect::<Vec<_>>() {
        let mine = reader.await.unwrap();
        total += mine.len();
        seen.extend(mine);
    }
    assert_eq!(total, seen.len(), "a record was reserved by two readers");
    assert_eq!(seen.len() as i64, OFFLINE_RECORDS);
}

#[tokio::test]
async fn an_event_committed_through_another_instance_wakes_the_workers() {
    let test = "an_event_committed_through_another_instance_wakes_the_workers";
    if std::env::var("B24LITE_TEST_POSTGRES_URL").is_err() {
        eprintln!("{test}: skipped: instances share a PostgreSQL database only");
        return;
    }
    // The API instance delivers nothing; the other one sweeps once a minute, so only a
    // notification can bring it the event within the receiver's wait.
    let api = TestServer::start_with(&["--delivery-workers", "0"]).await;
    let worker = api
        .start_sibling(&["--dispatch-sweep-ms", "60000"])
        .await
        .unwrap();
    let receiver = Receiver::start().await;
    api.cli(&["outgoing", "add", "--url", &receiver.url, "--event", ADD]);

    for (n, name) in ["WAKE_A", "WAKE_B"].into_iter().enumerate() {
        let started = Instant::now();
        let fields = json!({"fields": {"FIELD_NAME": name, "USER_TYPE_ID": "string"}});
        let (status, body) = api.call("crm.contact.userfield.add", fields).await;
        assert_eq!(status, 200, "{body}");
        let received = receiver.wait_for(n + 1).await;
        let data = received[n].decoded();
        assert_eq!(
            data["data"]["FIELDS"]["FIELD_NAME"],
            format!("UF_CRM_{name}")
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    drop(worker);
}

/// Fields per `batch` call, each added, updated and deleted (a portal holds 1016 fields at
/// most, so they must not pile up), and batch calls in all: 3,072 events.
const PER_BATCH: usize = 16;
const BATCHES: usize = 64;
const EVENTS: [&str; 3] = [
    ADD,
    "ONCRMCONTACTUSERFIELDUPDATE",
    "ONCRMCONTACTUSERFIELDDELETE",
];
/// Outgoing webhooks subscribed to the events: deliveries per event.
const SUBSCRIBERS: usize = 2;
/// Lease of a claim in the killed-instance test: long enough for a claim of quick deliveries,
/// short enough that the survivors take over the dead one's rows soon.
const LEASE: &str = "4";

/// The commands of batch `n`: `PER_BATCH` new fields, each updated and deleted by reference.
fn batch_of_fields(n: usize) -> Value {
    let mut cmd = Map::new();
    for i in 0..PER_BATCH {
        let add = format!(
            "crm.contact.userfield.add?fields[FIELD_NAME]=K{n}_{i}&fields[USER_TYPE_ID]=string"
        );
        let update = format!("crm.contact.userfield.update?id=$result[a{i}]&fields[SORT]=200");
        let delete = format!("crm.contact.userfield.delete?id=$result[a{i}]");
        cmd.insert(format!("a{i}"), Value::from(add));
        cmd.insert(format!("u{i}"), Value::from(update));
        cmd.insert(format!("d{i}"), Value::from(delete));
    }
    json!({"halt": 0, "cmd": cmd})
}

/// Sends batches from the shared counter `next` to `server` until none is left, `stop` is set
/// or the server stops answering; counts the answered ones in `done`.
async fn fire(server: &TestServer, next: &AtomicUsize, stop: &AtomicBool, done: &AtomicUsize) {
    let url = format!("{}batch", server.webhook_url);
    loop {
        let n = next.fetch_add(1, Ordering::SeqCst);
        if n >= BATCHES || stop.load(Ordering::SeqCst) {
            return;
        }
        let request = server.client().post(&url).json(&batch_of_fields(n));
        let Ok(response) = request.send().await else {
            return;
        };
        let status = response.status().as_u16();
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["result_error"], json!([]), "batch {n}");
        done.fetch_add(1, Ordering::SeqCst);
    }
}

/// What the store knows of one delivery at the end.
struct StoredDelivery {
    status: String,
    /// Attempts whose outcome was written, and those of them answered with 200.
    attempts: i64,
    acknowledged: i64,
}

/// A delivery as the handler sees it: event, `event_handler_id`, field id.
type Key = (String, String, String);

/// Every delivery by its key.
async fn stored_deliveries(db: &mut PgConnection) -> HashMap<Key, (i64, StoredDelivery)> {
    let rows = sqlx::query(
        "SELECT d.id, d.handler_id, d.status, e.name, e.data,
                (SELECT COUNT(*) FROM attempts a WHERE a.delivery_id = d.id) AS attempts,
                (SELECT COUNT(*) FROM attempts a
                 WHERE a.delivery_id = d.id AND a.http_status = 200) AS acknowledged
         FROM deliveries d JOIN events e ON e.id = d.event_id",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            let data: Value = serde_json::from_str(row.get("data")).unwrap();
            let handler: i64 = row.get("handler_id");
            let key = (
                row.get("name"),
                handler.to_string(),
                scalar(&data["FIELDS"]["ID"]),
            );
            let stored = StoredDelivery {
                status: row.get("status"),
                attempts: row.get("attempts"),
                acknowledged: row.get("acknowledged"),
            };
            (key, (row.get("id"), stored))
        })
        .collect()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Deliveries leased by process `pid` and not finished: what it had in flight.
async fn leased_by(db: &mut PgConnection, pid: u32) -> HashSet<i64> {
    sqlx::query("SELECT id FROM deliveries WHERE status = 'pending' AND lease_owner LIKE $1")
        .bind(format!("{pid}.%"))
        .fetch_all(db)
        .await
        .unwrap()
        .iter()
        .map(|row| row.get("id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_deliver_everything_when_one_is_killed() {
    let test = "three_instances_deliver_everything_when_one_is_killed";
    let args = ["--delivery-lease", LEASE];
    let Some(cluster) = Cluster::start(test, 3, &args).await else {
        return;
    };
    let started = Instant::now();
    // A handler that takes a few milliseconds keeps requests in flight when the kill comes.
    let receiver = Receiver::start().await;
    receiver.set(Behaviour {
        delay: Duration::from_millis(5),
        ..Behaviour::default()
    });
    let mut add = vec!["outgoing", "add", "--url", &receiver.url];
    for event in EVENTS {
        add.extend(["--event", event]);
    }
    for _ in 0..SUBSCRIBERS {
        cluster.first.cli(&add);
    }
    let servers = cluster.all();
    let victim = servers[2];
    let mut db = cluster.db().await;

    // Batches go to all three instances at once; when half of them are done the third instance
    // is killed (SIGKILL: no clean-up of any kind) and the other two carry on.
    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (keep_going, victim_stop) = (AtomicBool::new(false), AtomicBool::new(false));
    let kill = async {
        while done.load(Ordering::SeqCst) < BATCHES / 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        victim_stop.store(true, Ordering::SeqCst);
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &victim.pid().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let answered = done.load(Ordering::SeqCst);
        (leased_by(&mut db, victim.pid()).await, answered)
    };
    let (_, _, _, (in_flight, answered_at_kill)) = tokio::join!(
        fire(servers[0], &next, &keep_going, &done),
        fire(servers[1], &next, &keep_going, &done),
        fire(victim, &next, &victim_stop, &done),
        kill,
    );
    let fired_in = started.elapsed();
    // The kill came mid-stream: the survivors answered batches after it.
    let answered = done.load(Ordering::SeqCst);
    assert!(
        answered > answered_at_kill,
        "no batch was answered after the kill ({answered_at_kill} before it)"
    );

    // Every delivery of every recorded event reaches the handler: the survivors take over the
    // dead instance's rows once their lease runs out.
    let events: i64 = sqlx::query("SELECT COUNT(*) AS n FROM events")
        .fetch_one(&mut db)
        .await
        .unwrap()
        .get("n");
    let deadline = Instant::now() + Duration::from_secs(40);
    let stored = loop {
        let stored = stored_deliveries(&mut db).await;
        if stored.values().all(|(_, d)| d.status != "pending") {
            break stored;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries still pending after 40 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(stored.len() as i64, events * SUBSCRIBERS as i64);

    // Count what the handler got per delivery.
    let mut received: HashMap<Key, i64> = HashMap::new();
    for request in receiver.requests() {
        let body = request.decoded();
        let key = (
            scalar(&body["event"]),
            scalar(&body["event_handler_id"]),
            scalar(&body["data"]["FIELDS"]["ID"]),
        );
        *received.entry(key).or_default() += 1;
    }
    assert!(
        received.keys().all(|key| stored.contains_key(key)),
        "a delivery the store does not know"
    );

    // Each delivery was acknowledged (answered 200 and written as such) exactly once. A second
    // copy is allowed only for a row the dead instance held: its request was answered, but the
    // outcome died with the process, so nothing marked it delivered and a survivor sent it again.
    let mut resent = 0;
    for (key, (id, delivery)) in &stored {
        let copies = received.get(key).copied().unwrap_or(0);
        assert_eq!(delivery.status, "delivered", "delivery {id}");
        assert!(copies >= 1, "delivery {id} never reached the handler");
        assert_eq!(delivery.acknowledged, 1, "delivery {id} acknowledged twice");
        let unrecorded = copies - delivery.attempts;
        assert!(
            (0..=1).contains(&unrecorded),
            "delivery {id}: {copies} copies, {} attempts",
            delivery.attempts
        );
        if unrecorded == 1 {
            assert!(
                in_flight.contains(id),
                "delivery {id} sent twice but not held by the dead instance"
            );
            resent += 1;
        }
    }
    let copies: i64 = received.values().sum();
    eprintln!(
        "\n{test}: {events} events ({answered} batches answered of {BATCHES}, \
         {answered_at_kill} before the kill), {} deliveries, {copies} \
         received; the killed instance held {} leased rows, {resent} of them had reached the \
         handler and were sent again; no acknowledged delivery sent twice; events fired in \
         {fired_in:.1?}, all delivered after {:.1?}",
        stored.len(),
        in_flight.len(),
        started.elapsed(),
    );
}

/// `more` instances beside `first` on its PostgreSQL database; none on SQLite, where the calls
/// of the tests below race inside one server instead.
async fn siblings_of(first: &TestServer, more: usize, args: &[&str]) -> Vec<TestServer> {
    let mut siblings = Vec::new();
    for _ in 0..more {
        match first.start_sibling(args).await {
            Some(sibling) => siblings.push(sibling),
            None => break,
        }
    }
    siblings
}

fn spread<'a>(first: &'a TestServer, siblings: &'a [TestServer]) -> Vec<&'a TestServer> {
    std::iter::once(first).chain(siblings).collect()
}

/// Calls `method` through `server`'s administrator webhook as a task of its own, so that calls
/// race.
fn spawn_call(
    server: &TestServer,
    method: &str,
    params: Value,
) -> tokio::task::JoinHandle<(u16, Value)> {
    let url = format!("{}{method}", server.webhook_url);
    let client = server.client().clone();
    tokio::spawn(async move {
        crate::utils::decode(client.post(url).json(&params).send().await.unwrap()).await
    })
}

/// Calls `method` `n` times at once, spread round-robin over `servers`, with the parameters
/// `params(i)`; the answers in call order.
async fn race(
    servers: &[&TestServer],
    n: usize,
    method: &str,
    params: impl Fn(usize) -> Value,
) -> Vec<(u16, Value)> {
    let calls: Vec<_> = (0..n)
        .map(|i| spawn_call(servers[i % servers.len()], method, params(i)))
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    answers
}

/// Events of `name` in the outbox.
async fn events_named(server: &TestServer, name: &str) -> i64 {
    let store = server.open_store().await;
    let count = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE name = $1")
        .bind(name)
        .fetch_one(store.pool())
        .await
        .unwrap();
    store.close().await;
    count
}

/// Racing calls per round in the tests below, spread over the instances.
const RACERS: usize = 12;

/// Runs on both stores: adds of one FIELD_NAME racing through three instances (within one
/// server on SQLite). One wins; every other gets Bitrix24's duplicate-name error and leaves
/// neither a field nor an event behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_adds_of_one_name_through_three_instances_one_wins() {
    let first = TestServer::start().await;
    let siblings = siblings_of(&first, 2, &[]).await;
    let servers = spread(&first, &siblings);
    const NAMES: usize = 4;
    for round in 0..NAMES {
        let name = format!("UF_CRM_RACE{round}");
        let fields = json!({"fields": {"FIELD_NAME": name, "USER_TYPE_ID": "string"}});
        let answers = race(&servers, RACERS, "crm.contact.userfield.add", |_| {
            fields.clone()
        })
        .await;
        let (won, lost): (Vec<_>, Vec<_>) = answers.into_iter().partition(|(s, _)| *s == 200);
        assert_eq!(
            won.len(),
            1,
            "{name}: {} of {RACERS} adds through {} instances succeeded: {won:?}",
            won.len(),
            servers.len()
        );
        let duplicate = json!({
            "error": "ERROR_CORE",
            "error_description": format!("The field {name} for the CRM_CONTACT object already exists.")
        });
        for (status, body) in &lost {
            assert_eq!((*status, body), (400, &duplicate));
        }
    }
    let (status, list) = first.call("crm.contact.userfield.list", json!({})).await;
    assert_eq!(
        (status, &list["total"]),
        (200, &json!(NAMES)),
        "{NAMES} names raced: {list}"
    );
    assert_eq!(events_named(&first, ADD).await, NAMES as i64);
}

/// Runs on both stores: LIST updates of one enumeration field racing through three instances
/// each append their item, with ids of their own; the same new item from every instance is added
/// once and refused to the others as a duplicate XML_ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_list_updates_through_three_instances_keep_every_item() {
    let first = TestServer::start().await;
    let siblings = siblings_of(&first, 2, &[]).await;
    let servers = spread(&first, &siblings);
    let fields = json!({"fields": {
        "FIELD_NAME": "ENUM_RACE", "USER_TYPE_ID": "enumeration", "MULTIPLE": "Y",
        "LIST": [{"VALUE": "seed"}],
    }});
    let (status, body) = first.call("crm.contact.userfield.add", fields).await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"].as_i64().unwrap();
    let update = "crm.contact.userfield.update";

    let answers = race(
        &servers,
        RACERS,
        update,
        |n| json!({"id": id, "fields": {"LIST": [{"VALUE": format!("v{n}")}]}}),
    )
    .await;
    all_succeed(&answers, "update");
    let items = |body: &Value| -> Vec<(String, String)> {
        body["result"]["LIST"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                let text = |key: &str| item[key].as_str().unwrap().to_string();
                (text("ID"), text("VALUE"))
            })
            .collect()
    };
    let (_, body) = first
        .call("crm.contact.userfield.get", json!({"id": id}))
        .await;
    let stored = items(&body);
    let ids: HashSet<&String> = stored.iter().map(|(id, _)| id).collect();
    let values: HashSet<&str> = stored.iter().map(|(_, value)| value.as_str()).collect();
    let expected: Vec<String> = (0..RACERS)
        .map(|n| format!("v{n}"))
        .chain(["seed".to_string()])
        .collect();
    let expected: HashSet<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(
        (stored.len(), ids.len()),
        (RACERS + 1, RACERS + 1),
        "{RACERS} racing appends to one item: {stored:?}"
    );
    assert_eq!(values, expected);

    // The same item from every instance: the first to commit adds it.
    let same = json!({"id": id, "fields": {"LIST": [{"VALUE": "same", "XML_ID": "SAME"}]}});
    let answers = race(&servers, RACERS, update, |_| same.clone()).await;
    let (won, lost): (Vec<_>, Vec<_>) = answers.into_iter().partition(|(s, _)| *s == 200);
    assert_eq!(
        won.len(),
        1,
        "{} of {RACERS} adds of one XML_ID succeeded",
        won.len()
    );
    let duplicate = json!({
        "error": "ERROR_CORE",
        "error_description": "List item with XML_ID='SAME' already exists"
    });
    for (status, body) in &lost {
        assert_eq!((*status, body), (400, &duplicate));
    }
    let (_, body) = first
        .call("crm.contact.userfield.get", json!({"id": id}))
        .await;
    assert_eq!(items(&body).len(), RACERS + 2, "{body}");
}

/// Runs on both stores: calls of one webhook racing through three instances fill one bucket,
/// as one server's would: exactly its size gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_calls_through_three_instances_share_one_rate_bucket() {
    // A bucket of 10 that frees a place once in 1000 s: nothing drains while the test runs.
    let args = ["--rate-limit", "0.001:10"];
    let first = TestServer::start_with(&args).await;
    let siblings = siblings_of(&first, 2, &args).await;
    let servers = spread(&first, &siblings);
    const CALLS: usize = 30;
    let answers = race(&servers, CALLS, "server.time", |_| json!({})).await;
    let admitted = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(
        admitted,
        10,
        "{admitted} of {CALLS} racing calls through {} instances admitted",
        servers.len()
    );
    for (status, body) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(
            (*status, body["error"].as_str()),
            (503, Some("QUERY_LIMIT_EXCEEDED")),
            "{body}"
        );
    }
}

/// Runs on both stores: changes of one field racing through three instances queue one offline
/// record for it (the merge rule), not one per change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_changes_of_one_field_queue_one_offline_record() {
    let first = TestServer::start().await;
    let siblings = siblings_of(&first, 2, &[]).await;
    let servers = spread(&first, &siblings);
    let app = first.install_app("crm", &[]);
    let update = "ONCRMCONTACTUSERFIELDUPDATE";
    let bind = json!({"event": update, "event_type": "offline"});
    let (status, body) = first.app_call(&app.access_token, "event.bind", bind).await;
    assert_eq!(status, 200, "{body}");
    let fields = json!({"fields": {"FIELD_NAME": "MERGED", "USER_TYPE_ID": "string"}});
    let (status, body) = first.call("crm.contact.userfield.add", fields).await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"].as_i64().unwrap();

    let answers = race(
        &servers,
        RACERS,
        "crm.contact.userfield.update",
        |n| json!({"id": id, "fields": {"SORT": 100 + n}}),
    )
    .await;
    all_succeed(&answers, "update");
    let (status, body) = first
        .app_call(&app.access_token, "event.offline.list", json!({}))
        .await;
    assert_eq!(
        (status, &body["total"]),
        (200, &json!(1)),
        "{RACERS} racing updates of one field: {body}"
    );
    assert_eq!(body["result"][0]["EVENT_NAME"], update);
    assert_eq!(events_named(&first, update).await, RACERS as i64);
}

/// Refreshes until one is refused, alternating over `servers` from `chain`; every access token
/// issued goes to `issued`. Returns the refusal and the refresh token it refused.
async fn refresh_chain(
    servers: &[&TestServer],
    app: &InstalledApp,
    chain: usize,
    mut refresh_token: String,
    issued: &std::sync::Mutex<Vec<String>>,
    refreshed: &AtomicUsize,
) -> ((u16, Value), String) {
    for n in 0..10_000 {
        let server = servers[(chain + n) % servers.len()];
        let (status, body) = refresh(server, app, &refresh_token).await.unwrap();
        if status != 200 {
            return ((status, body), refresh_token);
        }
        let text = |key: &str| body[key].as_str().unwrap().to_string();
        issued.lock().unwrap().push(text("access_token"));
        refresh_token = text("refresh_token");
        refreshed.fetch_add(1, Ordering::SeqCst);
    }
    panic!("chain {chain}: 10000 refreshes and no uninstall");
}

/// Runs on both stores: refresh chains race an uninstall through two instances. Whatever was
/// minted while it committed, no token works once it is done, nor after a reinstall, whose own
/// token works on every instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_refreshed_while_an_uninstall_commits_stay_revoked() {
    let first = TestServer::start().await;
    let siblings = siblings_of(&first, 1, &[]).await;
    let servers = spread(&first, &siblings);
    let app = first.install_app("crm", &[]);
    const CHAINS: usize = 4;
    let mut starts = vec![app.tokens.clone()];
    for _ in 1..CHAINS {
        starts.push(first.user_tokens(&app, 1).await);
    }
    let issued = std::sync::Mutex::new(
        starts
            .iter()
            .map(|t| t["access_token"].as_str().unwrap().to_string())
            .collect::<Vec<_>>(),
    );
    let refreshed = AtomicUsize::new(0);

    // The uninstall comes once the chains are well under way.
    let uninstall = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while refreshed.load(Ordering::SeqCst) < 5 * CHAINS {
            assert!(
                Instant::now() < deadline,
                "{} refreshes in 60 s",
                refreshed.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let path = format!("/admin/apps/{}/uninstall", app.client_id);
        first.admin("POST", &path, None).await
    };
    let chain = |n: usize| {
        let token = starts[n]["refresh_token"].as_str().unwrap().to_string();
        refresh_chain(&servers, &app, n, token, &issued, &refreshed)
    };
    let (uninstalled, a, b, c, d) = tokio::join!(uninstall, chain(0), chain(1), chain(2), chain(3));
    assert_eq!(uninstalled.0, 200, "{}", uninstalled.1);
    let ends = [a, b, c, d];
    for ((status, body), _) in &ends {
        // Refused by the token's revocation, or by the application's removal.
        let error = body["error"].as_str();
        assert!(
            matches!(
                (*status, error),
                (400, Some("invalid_grant")) | (402, Some("PAYMENT_REQUIRED"))
            ),
            "{status} {body}"
        );
    }
    let issued = issued.into_inner().unwrap();
    let invalid = json!({"error": "invalid_token", "error_description": "The access token provided is invalid."});
    let all_refused = async |phase: &str| {
        for server in &servers {
            for token in &issued {
                let answer = server.app_call(token, "app.info", json!({})).await;
                assert_eq!(
                    answer,
                    (401, invalid.clone()),
                    "{phase}: one of {} tokens issued works",
                    issued.len()
                );
            }
        }
    };
    all_refused("uninstalled").await;

    // A reinstall brings none of them back, nor any refresh token a chain held.
    let tokens: Value =
        serde_json::from_str(&first.cli(&["app", "install", "--client-id", &app.client_id]))
            .unwrap();
    all_refused("reinstalled").await;
    for (_, refresh_token) in &ends {
        let (status, body) = refresh(&first, &app, refresh_token).await.unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_grant"))
        );
    }
    let token = tokens["access_token"].as_str().unwrap();
    for server in &servers {
        assert_eq!(server.app_call(token, "app.info", json!({})).await.0, 200);
    }
    eprintln!(
        "\ntokens_refreshed_while_an_uninstall_commits_stay_revoked: {} tokens issued by {CHAINS} \
         chains over {} instances, all refused after the uninstall",
        issued.len(),
        servers.len()
    );
}

/// Every racing call answered 200 with `true`.
fn all_succeed(answers: &[(u16, Value)], what: &str) {
    for (n, (status, body)) in answers.iter().enumerate() {
        assert_eq!(
            (*status, &body["result"]),
            (200, &json!(true)),
            "{what} {n}"
        );
    }
}
