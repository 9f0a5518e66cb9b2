//! The outbox fan-out and the delivery queue on a SQLite file: who gets a delivery, how claims
//! and leases share the queue, and how outcomes are written.

use b24lite_store::Store;
use b24lite_store::deliveries::{self, Attempt, Finished};
use b24lite_store::events::{self, NewEvent};
use b24lite_store::outgoing::{self, Policy};
use serde_json::json;

/// A store in a temporary folder, removed with its `-wal` and `-shm` files when the folder is
/// dropped, even if the test fails.
async fn store() -> (Store, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("b24lite.db");
    let store = Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    (store, folder)
}

/// An unsigned outgoing webhook on `event`, created at time 100.
async fn subscribe(
    conn: &mut b24lite_store::AnyConnection,
    url: &str,
    event: &str,
    policy: Policy,
) -> outgoing::OutgoingWebhook {
    outgoing::create(conn, url, &[event.into()], policy, false, 100)
        .await
        .unwrap()
}

fn event(name: &str, id: i64, request: &str) -> NewEvent {
    NewEvent {
        name: name.into(),
        data: json!({"FIELDS": {"ID": id}}),
        user_id: None,
        request_id: request.into(),
        auth_connector: None,
        app_id: None,
        event_ttl: events::EVENT_TTL,
    }
}

async fn record(store: &Store, event: &NewEvent, now: i64) {
    let mut tx = store.begin_write().await.unwrap();
    events::record(&mut tx, event, now).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn fan_out_claims_and_leases() {
    let (store, _folder) = store().await;
    let mut conn = store.pool().acquire().await.unwrap();
    let add = "ONCRMCONTACTUSERFIELDADD";
    let a = subscribe(&mut conn, "http://a/", add, Policy::Bitrix).await;
    let b = subscribe(&mut conn, "http://b/", add, Policy::Retry).await;
    let off = subscribe(&mut conn, "http://c/", add, Policy::Retry).await;
    outgoing::set_enabled(&mut conn, off.id, false)
        .await
        .unwrap();
    drop(conn);

    // Lower-case names are stored upper-case; the disabled webhook gets nothing.
    record(&store, &event("onCrmContactUserFieldAdd", 1, "r1"), 100).await;
    record(&store, &event(add, 1, "r1"), 100).await; // identical, same request: collapses
    record(&store, &event("ONCRMCONTACTUSERFIELDDELETE", 1, "r1"), 100).await; // nobody subscribed

    // Rows of a busy webhook are skipped; a lease keeps rows from a second claim.
    let first = deliveries::claim(&store, "w1", 100, 200, 10, &[a.id])
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].handler_id, b.handlers[0].id);
    assert_eq!(first[0].target.as_ref().unwrap().policy, Policy::Retry);
    let second = deliveries::claim(&store, "w2", 100, 200, 10, &[])
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].handler_id, a.handlers[0].id);
    assert_eq!(second[0].event, add);
    assert!(
        deliveries::claim(&store, "w3", 150, 250, 10, &[])
            .await
            .unwrap()
            .is_empty()
    );

    // An expired lease makes the row claimable again; the old owner's report is then ignored.
    let again = deliveries::claim(&store, "w4", 200, 300, 10, &[])
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    let report = |owner: &str, id: i64, status: &'static str| Finished {
        delivery_id: id,
        owner: owner.into(),
        status,
        next_attempt_at: None,
        last_error: None,
        attempt: Some(Attempt {
            id: 0,
            delivery_id: id,
            started_at: 200,
            http_status: Some(200),
            latency_ms: 3,
            error_class: None,
            response_body: "ok".into(),
        }),
    };
    let batch = [
        report("w1", first[0].id, deliveries::FAILED),
        report("w4", again[0].id, deliveries::DELIVERED),
        report("w4", again[1].id, deliveries::DELIVERED),
    ];
    deliveries::finish(&store, &batch, 201).await.unwrap();
    let mut conn = store.pool().acquire().await.unwrap();
    let counts = deliveries::count_by_status(&mut conn).await.unwrap();
    assert_eq!(counts, [("delivered".to_string(), 2)]);
    assert_eq!(
        deliveries::attempts(&mut conn, None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    drop(conn);
    store.close().await;
}

#[tokio::test]
async fn newest_first_lists_page_backwards_under_their_filters() {
    let (store, _folder) = store().await;
    let (add, delete) = ("ONCRMCONTACTUSERFIELDADD", "ONCRMCONTACTUSERFIELDDELETE");
    let mut conn = store.pool().acquire().await.unwrap();
    let hook = subscribe(&mut conn, "http://a/", add, Policy::Bitrix).await;
    drop(conn);
    for n in 1..=5 {
        let name = if n % 2 == 1 { add } else { delete };
        record(&store, &event(name, n, &format!("r{n}")), 100 + n).await;
    }

    // Events 1..5, ADD on the odd ones; deliveries only for them (the webhook wants ADD).
    let mut conn = store.pool().acquire().await.unwrap();
    let ids = |found: Vec<events::Event>| found.iter().map(|e| e.id).collect::<Vec<_>>();
    let all = events::list_newest(&mut conn, None, None, 10)
        .await
        .unwrap();
    assert_eq!(ids(all), [5, 4, 3, 2, 1]);
    let adds = events::list_newest(&mut conn, Some("oncrmcontactuserfieldadd"), Some(5), 1);
    assert_eq!(ids(adds.await.unwrap()), [3]);

    let filter = deliveries::DeliveryFilter {
        webhook_id: Some(hook.id),
        limit: 10,
        ..Default::default()
    };
    let newest = deliveries::list_newest(&mut conn, &filter, None)
        .await
        .unwrap();
    let event_ids: Vec<i64> = newest.iter().map(|d| d.event_id).collect();
    assert_eq!(event_ids, [5, 3, 1]);
    let older = deliveries::list_newest(&mut conn, &filter, Some(newest[0].id)).await;
    assert_eq!(older.unwrap().len(), 2);
    let failed = deliveries::DeliveryFilter {
        status: Some(deliveries::FAILED.into()),
        ..filter
    };
    assert!(
        deliveries::list_newest(&mut conn, &failed, None)
            .await
            .unwrap()
            .is_empty()
    );
    let oldest = deliveries::list(&mut conn, &filter).await.unwrap();
    assert_eq!(oldest[0].event_id, 1, "the oldest-first list is unchanged");
    drop(conn);
    store.close().await;
}

/// Signing is off by default; switching it on keeps a secret already set, rotating replaces it,
/// and a claim carries the secret the webhook has when the claim is made.
#[tokio::test]
async fn signing_secrets_are_kept_rotated_and_claimed() {
    use outgoing::Signing;

    let (store, _folder) = store().await;
    let add = "ONCRMCONTACTUSERFIELDADD";
    let mut conn = store.pool().acquire().await.unwrap();
    let hook = subscribe(&mut conn, "http://a/", add, Policy::Bitrix).await;
    assert_eq!(hook.signing_secret, None);

    let set = async |conn: &mut b24lite_store::AnyConnection, id: i64, signing: Signing| {
        outgoing::set_signing(conn, id, signing).await.unwrap()
    };
    let first = set(&mut conn, hook.id, Signing::On).await.unwrap().unwrap();
    assert_eq!(secret_of(&mut conn, hook.id).await, Some(first.clone()));
    assert!(
        first.starts_with("whsec_") && first.len() == 6 + 44,
        "{first}"
    );
    assert_eq!(
        set(&mut conn, hook.id, Signing::On).await,
        Some(Some(first.clone())),
        "On keeps the secret"
    );
    assert_eq!(
        secret_of(&mut conn, hook.id).await.as_deref(),
        Some(first.as_str())
    );
    let second = set(&mut conn, hook.id, Signing::Rotate)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret_of(&mut conn, hook.id).await, Some(second.clone()));
    assert_ne!(second, first);
    assert_eq!(set(&mut conn, 999, Signing::Rotate).await, None);
    drop(conn);

    record(&store, &event(add, 1, "r1"), 100).await;
    let claimed = deliveries::claim(&store, "w1", 100, 200, 10, &[])
        .await
        .unwrap();
    let target = claimed[0].target.as_ref().unwrap();
    assert_eq!(target.signing_secret.as_deref(), Some(second.as_str()));

    // Off again, through an update as the admin API's PATCH makes it.
    let mut conn = store.pool().acquire().await.unwrap();
    let change = outgoing::Change {
        signing: Some(false),
        ..outgoing::Change::default()
    };
    let changed = outgoing::update(&mut conn, hook.id, &change, 101)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.signing_secret, None);
    drop(conn);
    record(&store, &event(add, 2, "r2"), 100).await;
    let claimed = deliveries::claim(&store, "w2", 100, 200, 10, &[])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].target.as_ref().unwrap().signing_secret, None);
    store.close().await;
}

async fn secret_of(conn: &mut b24lite_store::AnyConnection, id: i64) -> Option<String> {
    let hook = outgoing::get(conn, id).await.unwrap().unwrap();
    hook.signing_secret
}

/// A row a worker gives back unsent is stored due at 0 (ahead of newer rows); the log shows it
/// due since its creation, not in 1970, and it is still claimed first.
#[tokio::test]
async fn a_released_row_is_shown_due_since_its_creation() {
    let (store, _folder) = store().await;
    let add = "ONCRMCONTACTUSERFIELDADD";
    let mut conn = store.pool().acquire().await.unwrap();
    subscribe(&mut conn, "http://a/", add, Policy::Bitrix).await;
    drop(conn);
    record(&store, &event(add, 1, "r1"), 100).await;
    record(&store, &event(add, 2, "r2"), 110).await;
    let claimed = deliveries::claim(&store, "w1", 120, 220, 1, &[])
        .await
        .unwrap();
    let released = Finished {
        delivery_id: claimed[0].id,
        owner: "w1".into(),
        status: deliveries::PENDING,
        next_attempt_at: Some(0),
        last_error: None,
        attempt: None,
    };
    deliveries::finish(&store, &[released], 121).await.unwrap();

    let mut conn = store.pool().acquire().await.unwrap();
    let shown = deliveries::get(&mut conn, claimed[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((shown.next_attempt_at, shown.created_at), (Some(100), 100));
    drop(conn);
    let next = deliveries::claim(&store, "w2", 130, 230, 1, &[])
        .await
        .unwrap();
    assert_eq!(next[0].id, claimed[0].id, "the released row goes first");
    store.close().await;
}
