//! What instances sharing a database rely on: the shared rate and operating-time buckets (on both
//! stores, the rate bucket also under concurrent callers on PostgreSQL), tokens revoked for good
//! by an uninstall whatever raced with it (both stores), one file-link secret per portal, given
//! to a portal that predates it and kept by every later start (both stores), the outbox
//! notification sent at commit (PostgreSQL), migrations applied once by stores opened together
//! (PostgreSQL), and the offline queue's merge rule under racing writers and error flags (both
//! stores; the overlap of uncommitted transactions on PostgreSQL only).
//! The PostgreSQL parts run when `B24LITE_TEST_POSTGRES_URL` is set, each on a database of its
//! own that is dropped afterwards.

use std::time::Duration;

use b24lite_store::apps::{self, Lifetimes, NewApp};
use b24lite_store::events::{self, NewEvent};
use b24lite_store::operating;
use b24lite_store::rate::{self, Bucket};
use b24lite_store::wakeup::{Listener, Wake};
use b24lite_store::{Store, offline, outgoing, random};
use serde_json::json;
use sqlx::{Connection, PgConnection};

/// A fresh PostgreSQL database, dropped on drop.
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create() -> Option<PgDatabase> {
        let admin_url = std::env::var("B24LITE_TEST_POSTGRES_URL").ok()?;
        let name = format!("b24lite_store_{}", random::token(12));
        run(&admin_url, &format!("CREATE DATABASE {name}")).await;
        let base = admin_url.rsplit_once('/').map_or(&*admin_url, |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(PgDatabase {
            admin_url,
            name,
            url,
        })
    }
}

impl Drop for PgDatabase {
    /// Drops the database even when the test failed; on a runtime of its own, since a drop
    /// cannot await the test's.
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let admin_url = self.admin_url.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(run(&admin_url, &sql));
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

async fn run(url: &str, sql: &str) {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// A store in a temporary folder, removed with its `-wal` and `-shm` files when the folder is
/// dropped, even if the test fails.
async fn sqlite() -> (Store, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("b24lite.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    (store, folder)
}

const BUCKET: Bucket = Bucket {
    drain: 2.0,
    limit: 5.0,
};

async fn admit(store: &Store, key: &str, now: f64) -> bool {
    let mut conn = store.pool().acquire().await.unwrap();
    rate::admit(&mut conn, key, now, BUCKET).await.unwrap()
}

/// The leaky-bucket rule, as the in-memory limiter applies it.
async fn bucket_rule(store: &Store) {
    for _ in 0..5 {
        assert!(admit(store, "webhook:1", 100.0).await);
    }
    assert!(!admit(store, "webhook:1", 100.0).await);
    // A refused request adds nothing: 0.5 s later one place is free again, and only one.
    assert!(admit(store, "webhook:1", 100.5).await);
    assert!(!admit(store, "webhook:1", 100.5).await);
    // Another credential has a bucket of its own; a clock a little behind drains nothing.
    assert!(admit(store, "app:1", 100.5).await);
    assert!(!admit(store, "webhook:1", 100.2).await);
    // A full drain empties the bucket.
    for _ in 0..5 {
        assert!(admit(store, "webhook:1", 110.0).await);
    }
}

/// The operating-time buckets: one per minute, each living 10 minutes from its first call.
async fn operating_rule(store: &Store) {
    let mut conn = store.pool().acquire().await.unwrap();
    let (key, method) = ("webhook:1", "profile");
    operating::record(&mut conn, key, method, 1000.0, 20.0)
        .await
        .unwrap();
    operating::record(&mut conn, key, method, 1010.0, 5.0)
        .await
        .unwrap();
    operating::record(&mut conn, key, method, 1100.0, 10.0)
        .await
        .unwrap();
    let load = async |conn: &mut b24lite_store::AnyConnection, method: &str, now: f64| {
        operating::load(conn, key, method, now).await.unwrap()
    };
    assert_eq!(load(&mut conn, method, 1200.0).await, (35.0, Some(1000.0)));
    assert_eq!(load(&mut conn, "user.admin", 1200.0).await, (0.0, None));
    // The first minute's bucket (1000 and 1010) ends 600 s after its first call.
    assert_eq!(load(&mut conn, method, 1599.5).await, (35.0, Some(1000.0)));
    assert_eq!(load(&mut conn, method, 1600.0).await, (10.0, Some(1100.0)));
}

/// A token minted while an uninstall commits (a refresh or a delivery on another instance) is
/// written after the uninstall revoked the application's tokens; reinstalling must not bring it
/// back, while the new installation's tokens work.
async fn revocation_rule(store: &Store) {
    let mut conn = store.pool().acquire().await.unwrap();
    let new = NewApp {
        name: "Racing".into(),
        handler_url: "http://127.0.0.1:9/install".into(),
        scopes: vec!["crm".into()],
    };
    let app = apps::create(&mut conn, &new, 1000).await.unwrap();
    let lifetimes = Lifetimes {
        access: 3600,
        refresh: 86400,
    };
    apps::install(&mut conn, app.id, 1, true).await.unwrap();
    let before = apps::issue_tokens(&mut conn, app.id, 1, 1000, lifetimes)
        .await
        .unwrap();
    apps::uninstall(&mut conn, app.id).await.unwrap();
    let raced = apps::issue_tokens(&mut conn, app.id, 1, 1001, lifetimes)
        .await
        .unwrap();

    apps::install(&mut conn, app.id, 1, true).await.unwrap();
    let after = apps::issue_tokens(&mut conn, app.id, 1, 1002, lifetimes)
        .await
        .unwrap();
    for (pair, revoked) in [(&before, true), (&raced, true), (&after, false)] {
        let found = apps::token_credentials(&mut conn, &pair.access_token)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.grant.revoked, revoked, "{}", pair.access_token);
        assert_eq!(found.app.map(|app| app.id), Some(app.id));
        assert_eq!(found.grant.user_id, 1);
    }
    let refreshed = apps::refresh(&mut conn, app.id, &raced.refresh_token, 1003, lifetimes)
        .await
        .unwrap();
    assert!(refreshed.is_none(), "the raced refresh token is spent too");
}

/// Every start reads the secret the first one stored; a portal that predates the column (its
/// secret empty) gets one.
async fn file_secret_rule(store: &Store) {
    use b24lite_store::portal::ensure_portal;

    let mut conn = store.pool().acquire().await.unwrap();
    let first = ensure_portal(&mut conn, "http://b24.test", 10)
        .await
        .unwrap();
    assert_eq!(first.file_secret.len(), 64);
    let again = ensure_portal(&mut conn, "http://b24.test", 20)
        .await
        .unwrap();
    assert_eq!(again.file_secret, first.file_secret);

    sqlx::query("UPDATE portal SET file_secret = ''")
        .execute(&mut *conn)
        .await
        .unwrap();
    let filled = ensure_portal(&mut conn, "http://b24.test", 30)
        .await
        .unwrap();
    assert_eq!(filled.file_secret.len(), 64);
    assert_ne!(filled.file_secret, first.file_secret);
}

/// Rows go once both tokens expired before the cut-off, and not before; a spent refresh token
/// counts as expired; the event-session row goes with its token.
async fn token_purge_rule(store: &Store) {
    let mut conn = store.pool().acquire().await.unwrap();
    let new = NewApp {
        name: "Purged".into(),
        handler_url: "http://127.0.0.1:9/install".into(),
        scopes: vec!["crm".into()],
    };
    let app = apps::create(&mut conn, &new, 1000).await.unwrap();
    apps::install(&mut conn, app.id, 1, true).await.unwrap();
    let short = Lifetimes {
        access: 100,
        refresh: 100,
    };
    let long = Lifetimes {
        access: 100,
        refresh: 10_000,
    };
    let event = apps::issue_event_tokens(&mut conn, app.id, 1, 1000, short, 7)
        .await
        .unwrap();
    let kept = apps::issue_tokens(&mut conn, app.id, 1, 1000, long)
        .await
        .unwrap();
    let spent = apps::issue_tokens(&mut conn, app.id, 1, 1000, long)
        .await
        .unwrap();
    apps::refresh(&mut conn, app.id, &spent.refresh_token, 1050, long)
        .await
        .unwrap()
        .expect("a fresh refresh token works");

    // Nothing has expired before 1100.
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(
        apps::purge_expired_tokens(&mut tx, 1100, 100)
            .await
            .unwrap(),
        0
    );
    tx.commit().await.unwrap();
    // At 1101: the event's pair and the spent pair, not the one whose refresh token lives on,
    // nor the pair the refresh issued (its access token lives until 1150).
    let mut tx = store.begin_write().await.unwrap();
    assert_eq!(
        apps::purge_expired_tokens(&mut tx, 1101, 100)
            .await
            .unwrap(),
        2
    );
    tx.commit().await.unwrap();
    for (pair, present) in [(&event, false), (&spent, false), (&kept, true)] {
        let found = apps::token_credentials(&mut conn, &pair.access_token)
            .await
            .unwrap();
        assert_eq!(found.is_some(), present, "{}", pair.access_token);
    }
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM event_tokens")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(sessions, 0, "the event-session row went with its token");
}

#[tokio::test]
async fn expired_tokens_are_purged_on_both_stores() {
    let (store, _folder) = sqlite().await;
    token_purge_rule(&store).await;
    store.close().await;
    let Some(database) = PgDatabase::create().await else {
        eprintln!("skipped PostgreSQL: set B24LITE_TEST_POSTGRES_URL");
        return;
    };
    let store = Store::open(&database.url).await.unwrap();
    token_purge_rule(&store).await;
    store.close().await;
}

#[tokio::test]
async fn one_file_secret_per_portal_on_both_stores() {
    let (store, _folder) = sqlite().await;
    file_secret_rule(&store).await;
    store.close().await;
    let Some(database) = PgDatabase::create().await else {
        eprintln!("skipped PostgreSQL: set B24LITE_TEST_POSTGRES_URL");
        return;
    };
    let store = Store::open(&database.url).await.unwrap();
    file_secret_rule(&store).await;
    store.close().await;
}

#[tokio::test]
async fn limit_buckets_and_token_revocation_on_sqlite() {
    let (store, _folder) = sqlite().await;
    bucket_rule(&store).await;
    operating_rule(&store).await;
    revocation_rule(&store).await;
    store.close().await;
}

#[tokio::test]
async fn limit_buckets_token_revocation_and_concurrent_rates_on_postgres() {
    let Some(database) = PgDatabase::create().await else {
        eprintln!("skipped: set B24LITE_TEST_POSTGRES_URL");
        return;
    };
    let store = Store::open(&database.url).await.unwrap();
    bucket_rule(&store).await;
    operating_rule(&store).await;
    revocation_rule(&store).await;

    // Forty callers at the same instant on separate connections: exactly the limit gets in.
    let calls = (0..40).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { admit(&store, "webhook:2", 500.0).await })
    });
    let mut admitted = 0;
    for call in calls.collect::<Vec<_>>() {
        admitted += usize::from(call.await.unwrap());
    }
    assert_eq!(admitted, 5);

    store.close().await;
}

/// The next wake-up, or `Err` when none comes within half a second.
async fn next(listener: &mut Listener) -> Result<Wake, tokio::time::error::Elapsed> {
    let wake = tokio::time::timeout(Duration::from_millis(500), listener.next()).await?;
    Ok(wake.unwrap())
}

#[tokio::test]
async fn outbox_notification_arrives_at_commit_only() {
    let Some(database) = PgDatabase::create().await else {
        eprintln!("skipped: set B24LITE_TEST_POSTGRES_URL");
        return;
    };
    let store = Store::open(&database.url).await.unwrap();
    let add = "ONCRMCONTACTUSERFIELDADD";
    let mut conn = store.pool().acquire().await.unwrap();
    outgoing::create(
        &mut conn,
        "http://a/",
        &[add.into()],
        outgoing::Policy::Bitrix,
        false,
        1,
    )
    .await
    .unwrap();
    drop(conn);
    let mut listener = Listener::connect(&database.url).await.unwrap();
    let event = |id: i64, request: &str| NewEvent {
        name: add.into(),
        data: json!({"FIELDS": {"ID": id}}),
        user_id: None,
        request_id: request.into(),
        auth_connector: None,
        app_id: None,
        event_ttl: events::EVENT_TTL,
    };

    // Rolled back: nothing is announced. An event nobody subscribes to: nothing either.
    let mut tx = store.begin_write().await.unwrap();
    events::record(&mut tx, &event(1, "r1"), 10).await.unwrap();
    tx.rollback().await.unwrap();
    let mut tx = store.begin_write().await.unwrap();
    let lonely = NewEvent {
        name: "ONCRMCONTACTUSERFIELDDELETE".into(),
        ..event(1, "r2")
    };
    events::record(&mut tx, &lonely, 10).await.unwrap();
    tx.commit().await.unwrap();
    assert!(next(&mut listener).await.is_err(), "woken for nothing");

    // Committed with a delivery: one notification for the transaction, however many events.
    let mut tx = store.begin_write().await.unwrap();
    events::record(&mut tx, &event(2, "r3"), 10).await.unwrap();
    events::record(&mut tx, &event(3, "r3"), 10).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(next(&mut listener).await.unwrap(), Wake::Deliveries);
    assert!(
        next(&mut listener).await.is_err(),
        "one transaction, one wake-up"
    );

    drop(listener);
    store.close().await;
}

#[tokio::test]
async fn changes_of_credentials_and_fields_are_announced_at_commit() {
    let Some(database) = PgDatabase::create().await else {
        eprintln!("skipped: set B24LITE_TEST_POSTGRES_URL");
        return;
    };
    let store = Store::open(&database.url).await.unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    b24lite_store::portal::ensure_portal(&mut conn, "http://b24.test", 10)
        .await
        .unwrap();
    b24lite_store::portal::ensure_admin(&mut conn, 10)
        .await
        .unwrap();
    drop(conn);
    let mut listener = Listener::connect(&database.url).await.unwrap();

    // A webhook added and then deleted, in a transaction that is rolled back: nothing.
    let mut tx = store.begin_write().await.unwrap();
    b24lite_store::webhooks::create(&mut tx, 1, &["crm".into()], "t", None, 10)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(next(&mut listener).await.is_err(), "announced a rollback");

    // Committed: one notice per transaction.
    let mut tx = store.begin_write().await.unwrap();
    let hook = b24lite_store::webhooks::create(&mut tx, 1, &["crm".into()], "t", None, 10)
        .await
        .unwrap();
    b24lite_store::webhooks::delete(&mut tx, hook.id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(next(&mut listener).await.unwrap(), Wake::Changes);
    assert!(
        next(&mut listener).await.is_err(),
        "one transaction, one notice"
    );

    drop(listener);
    store.close().await;
}

/// Instances starting together on a fresh database each run the migrator at once: sqlx's
/// advisory lock must let exactly one apply each script while the others wait and find it done.
#[tokio::test]
async fn stores_opened_together_apply_each_migration_once() {
    let Some(database) = PgDatabase::create().await else {
        eprintln!("skipped: set B24LITE_TEST_POSTGRES_URL");
        return;
    };
    const OPENERS: usize = 6;
    let opens = (0..OPENERS).map(|_| {
        let url = database.url.clone();
        tokio::spawn(async move { Store::open(&url).await })
    });
    let mut stores = Vec::new();
    for (n, open) in opens.collect::<Vec<_>>().into_iter().enumerate() {
        let opened = open.await.unwrap();
        stores.push(opened.unwrap_or_else(|e| panic!("opener {n} of {OPENERS} failed: {e}")));
    }
    let scripts = b24lite_store::migrations::migrator(b24lite_store::Dialect::Postgres)
        .iter()
        .count();
    let mut conn = PgConnection::connect(&database.url).await.unwrap();
    let applied: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, COUNT(*) FROM _sqlx_migrations WHERE success GROUP BY version",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(applied.len(), scripts, "{applied:?}");
    assert!(applied.iter().all(|(_, n)| *n == 1), "{applied:?}");
    conn.close().await.unwrap();
    for store in stores {
        store.close().await;
    }
}

const REPEATED: &str = "ONCRMCONTACTUSERFIELDUPDATE";
/// The data of every record in the offline tests: one object, so one `MESSAGE_ID`.
const OBJECT: &str = r#"{"FIELDS":{"ID":7,"ENTITY_ID":"CRM_CONTACT","FIELD_NAME":"UF_CRM_X"}}"#;

/// An installed application bound offline to [`REPEATED`]; its id.
async fn offline_app(store: &Store) -> i64 {
    use b24lite_store::bindings::{self, EventType, NewBinding};

    let mut conn = store.pool().acquire().await.unwrap();
    let new = NewApp {
        name: "Offline".into(),
        handler_url: "http://127.0.0.1:9/install".into(),
        scopes: vec!["crm".into()],
    };
    let app = apps::create(&mut conn, &new, 1000).await.unwrap();
    apps::install(&mut conn, app.id, 1, true).await.unwrap();
    let binding = NewBinding {
        app_id: app.id,
        event: REPEATED.into(),
        handler: String::new(),
        auth_type: 0,
        event_type: EventType::Offline,
        connector: String::new(),
        options: "{}".into(),
    };
    bindings::bind(&mut conn, &binding, 1000).await.unwrap();
    app.id
}

/// One repeat of the object's change, committed on its own (a change made through the CLI).
async fn repeat(store: &Store, now: i64) {
    let mut tx = store.begin_write().await.unwrap();
    offline::record(&mut tx, REPEATED, OBJECT, Some(1), (None, ""), now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// The application's whole queue, in id order.
async fn queue(store: &Store, app_id: i64) -> Vec<offline::OfflineRecord> {
    let mut conn = store.pool().acquire().await.unwrap();
    let query = offline::Query {
        app_id,
        connector: String::new(),
        filter: Vec::new(),
        order: vec![(offline::Column::Id, true)],
    };
    offline::list(&mut conn, &query, 0, 100).await.unwrap().0
}

/// Claims the unclaimed record under `process_id` (`event.offline.get` with `clear=0`).
async fn claim(store: &Store, app_id: i64, process_id: &str) {
    let mut tx = store.begin_write().await.unwrap();
    let query = offline::Query {
        app_id,
        connector: String::new(),
        filter: Vec::new(),
        order: Vec::new(),
    };
    let claimed = offline::claim(&mut tx, store.dialect(), &query, false, 50, process_id)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    tx.commit().await.unwrap();
}

/// `event.offline.error` for the object's record of `process_id`, in a transaction of its own.
async fn flag(
    store: &Store,
    app_id: i64,
    process_id: &str,
) -> Result<(), b24lite_store::StoreError> {
    let mut tx = store.begin_write().await?;
    let which = offline::Selection::MessageIds(vec![offline::message_id(REPEATED, OBJECT)]);
    offline::flag_error(&mut tx, app_id, "", process_id, &which).await?;
    tx.commit().await?;
    Ok(())
}

/// Writers repeating one object's change at the same time (each on a connection of its own)
/// leave one unclaimed record for it, and one more beside a record a reader has claimed. Each
/// rule binds an application of its own, so both run on one store.
async fn parallel_repeats_rule(store: &Store) {
    const WRITERS: usize = 12;
    const REPEATS: i64 = 8;
    let app_id = offline_app(store).await;
    for round in 0..2 {
        let writers = (0..WRITERS).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..REPEATS {
                    repeat(&store, 2000 + n).await;
                }
            })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap();
        }
        let records = queue(store, app_id).await;
        let unclaimed = records.iter().filter(|r| r.process_id.is_empty()).count();
        assert_eq!(
            (records.len(), unclaimed),
            (round + 1, 1),
            "round {round}: {} repeats left {records:?}",
            WRITERS as i64 * REPEATS
        );
        claim(store, app_id, &format!("reader{round}")).await;
    }
}

/// A record flagged as failed while its object changes again: whichever commits first, one
/// unclaimed record stands for the object. Sequential here (both orders); the PostgreSQL test
/// below also makes the two overlap.
async fn flag_and_repeat_rule(store: &Store) {
    let app_id = offline_app(store).await;
    // Repeat first: the flagged record is dropped, the newer one stands.
    repeat(store, 3000).await;
    claim(store, app_id, "p1").await;
    repeat(store, 3001).await;
    flag(store, app_id, "p1").await.unwrap();
    let records = queue(store, app_id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0].process_id.as_str(), records[0].error),
        ("", false)
    );

    // Flag first: the repeat merges into the released record, which keeps its error flag.
    claim(store, app_id, "p2").await;
    flag(store, app_id, "p2").await.unwrap();
    repeat(store, 3002).await;
    let records = queue(store, app_id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0].process_id.as_str(), records[0].error),
        ("", true)
    );
}

#[tokio::test]
async fn offline_merges_stay_one_record_per_object_on_sqlite() {
    let (store, _folder) = sqlite().await;
    parallel_repeats_rule(&store).await;
    flag_and_repeat_rule(&store).await;
    store.close().await;
}

#[tokio::test]
async fn offline_merges_stay_one_record_per_object_on_postgres() {
    let Some(database) = PgDatabase::create().await else {
        eprintln!("skipped: set B24LITE_TEST_POSTGRES_URL");
        return;
    };
    let store = Store::open(&database.url).await.unwrap();
    parallel_repeats_rule(&store).await;
    flag_and_repeat_rule(&store).await;
    store.close().await;
}

/// The overlap SQLite's single writer rules out: a repeat is written but not yet committed when
/// `event.offline.error` releases the claimed record of the same object. The error call must
/// wait for the repeat and then drop its record, as in the sequential order, not fail on the
/// queue's unique key.
#[tokio::test]
async fn an_error_flag_overlapping_an_uncommitted_repeat_on_postgres() {
    let Some(database) = PgDatabase::create().await else {
        eprintln!("skipped: set B24LITE_TEST_POSTGRES_URL");
        return;
    };
    let store = Store::open(&database.url).await.unwrap();
    let app_id = offline_app(&store).await;
    repeat(&store, 4000).await;
    claim(&store, app_id, "p1").await;

    let mut writer = store.begin_write().await.unwrap();
    offline::record(&mut writer, REPEATED, OBJECT, Some(1), (None, ""), 4001)
        .await
        .unwrap();
    let flagging = {
        let store = store.clone();
        tokio::spawn(async move { flag(&store, app_id, "p1").await })
    };
    // Bounded wait until the flagging transaction is blocked behind the writer.
    let mut watcher = PgConnection::connect(&database.url).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline && !flagging.is_finished(),
            "the error call neither waited for the uncommitted repeat nor finished"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.commit().await.unwrap();

    let flagged = flagging.await.unwrap();
    assert!(flagged.is_ok(), "event.offline.error failed: {flagged:?}");
    let records = queue(&store, app_id).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0].process_id.as_str(), records[0].error),
        ("", false)
    );
    watcher.close().await.unwrap();
    store.close().await;
}
