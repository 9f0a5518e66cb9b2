//! A worker: claim due deliveries under a lease, send each handler's rows in order, report.
//!
//! Claimed rows are grouped by subscriber (the outgoing webhook: one handler URL, whatever the
//! event); each group is sent by its own task, one request at a time and in queue order, while
//! the subscriber is marked busy so that no other claim of this server takes its rows. So a
//! subscriber receives ADD before the SETENUMVALUES that followed it, even though each event has
//! its own handler row. (Order is not kept across instances sharing a PostgreSQL queue, nor
//! around a `retry` delivery waiting for its next attempt: later deliveries do not wait for it.)
//!
//! Outcomes go to the recorder, which stores them in batches; no transaction is open while a
//! request is in flight. A row whose handler is cooling down (slow replies), or that is reached
//! while the server stops, is released without an attempt and keeps its place in the queue.

use std::sync::Arc;

use b24lite_core::events::AuthBlock;
use b24lite_store::deliveries::{self, Attempt, Claimed, Finished};
use b24lite_store::outgoing::Policy;

use super::client::{Reply, class};
use super::retry::{self, Verdict};
use super::{BATCH, Engine, payload, recorder, sign};

pub(super) async fn run(engine: Arc<Engine>) {
    let mut stop = engine.stop.subscribe();
    loop {
        if engine.is_stopping() {
            return;
        }
        match claim_and_send(&engine).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "claiming deliveries failed"),
        }
        tokio::select! {
            _ = engine.state.outbox_signal.notified() => {}
            _ = tokio::time::sleep(engine.sweep) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Claims one batch and starts its handler groups; `false` when nothing was due.
async fn claim_and_send(engine: &Arc<Engine>) -> anyhow::Result<bool> {
    if engine.groups.available_permits() == 0 {
        return Ok(false);
    }
    let guard = engine.claim_lock.lock().await;
    let busy = engine.gates.excluded();
    let owner = engine.next_owner();
    let now = engine.state.clock.now();
    let lease_until = now + engine.lease_secs(BATCH);
    let claimed =
        deliveries::claim(&engine.state.store, &owner, now, lease_until, BATCH, &busy).await?;
    if claimed.is_empty() {
        return Ok(false);
    }
    let groups = group_by_subscriber(claimed);
    for (key, _) in &groups {
        engine.gates.mark_busy(*key);
    }
    drop(guard);

    for (key, rows) in groups {
        let permit = engine.groups.clone().acquire_owned().await?;
        let (engine, owner) = (engine.clone(), owner.clone());
        tokio::spawn(async move {
            send_group(&engine, &owner, rows).await;
            engine.gates.release(key);
            // Claims made while this subscriber was busy skipped its newer rows: look again now
            // rather than at the next sweep.
            engine.state.wake_dispatcher();
            drop(permit);
        });
    }
    Ok(true)
}

/// The throttling key of a row: its outgoing webhook, or its application negated (0 for rows
/// whose subscriber is gone).
fn subscriber(row: &Claimed) -> i64 {
    row.target.as_ref().map_or(0, |target| match &target.app {
        Some(app) => -app.app_id,
        None => target.webhook_id,
    })
}

/// Splits a claim into per-subscriber lists, keeping queue order within each.
fn group_by_subscriber(claimed: Vec<Claimed>) -> Vec<(i64, Vec<Claimed>)> {
    let mut groups: Vec<(i64, Vec<Claimed>)> = Vec::new();
    for row in claimed {
        let key = subscriber(&row);
        match groups.iter_mut().find(|(id, _)| *id == key) {
            Some((_, rows)) => rows.push(row),
            None => groups.push((key, vec![row])),
        }
    }
    groups
}

async fn send_group(engine: &Engine, owner: &str, rows: Vec<Claimed>) {
    for row in rows {
        let finished = if engine.is_stopping() || engine.gates.cooling(subscriber(&row)) {
            release(owner, &row)
        } else {
            deliver(engine, owner, &row).await
        };
        let _ = engine.recorder.send(recorder::Msg::Done(finished));
    }
}

/// Gives a row back without an attempt: still pending, due at once, ahead of newer rows.
fn release(owner: &str, row: &Claimed) -> Finished {
    Finished {
        delivery_id: row.id,
        owner: owner.to_string(),
        status: deliveries::PENDING,
        next_attempt_at: Some(0),
        last_error: None,
        attempt: None,
    }
}

/// Sends one delivery and decides its fate.
async fn deliver(engine: &Engine, owner: &str, row: &Claimed) -> Finished {
    let target = match &row.target {
        Some(target) if target.enabled => target,
        Some(target) if target.app.as_ref().is_some_and(|app| !app.installed) => {
            return dropped(owner, row, "application not installed");
        }
        Some(target) if target.app.is_some() => {
            return dropped(owner, row, "application installation not finished");
        }
        Some(_) => return dropped(owner, row, "webhook disabled"),
        None => return dropped(owner, row, "handler deleted"),
    };
    let ts = engine.state.clock.now();
    let body = match &target.app {
        None => payload::webhook_body(
            &row.event,
            row.handler_id,
            &row.data,
            ts,
            &engine.portal,
            &target.application_token,
        ),
        Some(app) => match app_body(engine, row, target, app, ts).await {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, delivery = row.id, "cannot mint the delivery's tokens");
                return release(owner, row);
            }
        },
    };
    // Signed with the secret the webhook has now: a rotation applies to deliveries not yet sent.
    let headers = match &target.signing_secret {
        Some(secret) => match sign::headers(secret, row.id, ts, body.as_bytes()) {
            Ok(headers) => headers,
            Err(error) => return dropped(owner, row, &error.to_string()),
        },
        None => Vec::new(),
    };
    let reply = engine.client.post_form(&target.url, body, &headers).await;
    let timed_out = reply.error == Some(class::TIMEOUT);
    engine
        .gates
        .observe(subscriber(row), reply.latency, timed_out);

    let attempts_made = row.attempts + 1;
    let now = engine.state.clock.now();
    let verdict = retry::decide(target.policy, &engine.schedule, attempts_made, &reply, now);
    let success = verdict == Verdict::Delivered;
    engine
        .state
        .delivery_metrics
        .record_attempt(success, reply.latency);
    log_attempt(row, target.policy, &reply, verdict);
    outcome(owner, row, ts, target.policy, &reply, verdict)
}

/// The body of a delivery to an application: a fresh access token of the binding's user (or
/// of the user who made the change) goes into `auth`, minted just before sending, with its
/// refresh token when the event sends one. The token carries the event's session TTL (fact 70).
async fn app_body(
    engine: &Engine,
    row: &Claimed,
    target: &deliveries::Target,
    app: &deliveries::AppTarget,
    ts: i64,
) -> Result<String, b24lite_store::StoreError> {
    let shape = b24lite_core::events::find(&row.event).map_or(AuthBlock::Tokens, |info| info.auth);
    let mut conn = engine.state.store.pool().acquire().await?;
    let user_id = match app.user_id.filter(|_| shape != AuthBlock::PortalOnly) {
        // A binding's `auth_type` may name a user who does not exist or was deactivated: no
        // token could work, so none is sent, as when no user is behind the change.
        Some(id) => b24lite_store::portal::get_user(&mut conn, id)
            .await?
            .filter(|user| user.active)
            .map(|user| user.id),
        None => None,
    };
    let tokens = match user_id {
        Some(user_id) => {
            let mut lifetimes = engine.state.config.token_lifetimes();
            if shape != AuthBlock::TokensWithRefresh {
                // Nobody receives this pair's refresh token: let it end with the access token,
                // so that the row is purged then instead of in 180 days.
                lifetimes.refresh = lifetimes.access;
            }
            let pair = b24lite_store::apps::issue_event_tokens(
                &mut conn,
                app.app_id,
                user_id,
                ts,
                lifetimes,
                row.event_ttl,
            )
            .await?;
            Some(payload::AppTokens {
                access_token: pair.access_token,
                expires: pair.access_expires_at,
                expires_in: lifetimes.access,
                user_id,
                refresh_token: (shape == AuthBlock::TokensWithRefresh)
                    .then_some(pair.refresh_token),
            })
        }
        None => None,
    };
    let auth = payload::AppAuth {
        shape,
        tokens,
        scope: app.scopes.join(","),
        status: &app.status,
        application_token: &target.application_token,
    };
    let tree = payload::app_tree(
        &row.event,
        row.handler_id,
        &row.data,
        ts,
        &engine.portal,
        &auth,
    );
    Ok(b24lite_core::wire::http_build_query(&tree))
}

fn outcome(
    owner: &str,
    row: &Claimed,
    ts: i64,
    policy: Policy,
    reply: &Reply,
    verdict: Verdict,
) -> Finished {
    let error_class = retry::error_class(policy, reply);
    let (status, next_attempt_at) = match verdict {
        _ if error_class == Some(class::REFUSED) => (deliveries::DROPPED, None),
        Verdict::Delivered => (deliveries::DELIVERED, None),
        Verdict::RetryAt(at) => (deliveries::PENDING, Some(at)),
        Verdict::Failed => (deliveries::FAILED, None),
    };
    let last_error = error_class.map(|class| match reply.status {
        Some(code) => format!("{class}: HTTP {code}"),
        None => class.to_string(),
    });
    Finished {
        delivery_id: row.id,
        owner: owner.to_string(),
        status,
        next_attempt_at,
        last_error,
        attempt: Some(Attempt {
            id: 0,
            delivery_id: row.id,
            started_at: ts,
            http_status: reply.status.map(i64::from),
            latency_ms: reply.latency.as_millis() as i64,
            error_class: error_class.map(str::to_string),
            response_body: reply.body.clone(),
        }),
    }
}

fn dropped(owner: &str, row: &Claimed, reason: &str) -> Finished {
    tracing::info!(
        delivery = row.id,
        handler = row.handler_id,
        reason,
        "delivery dropped"
    );
    Finished {
        delivery_id: row.id,
        owner: owner.to_string(),
        status: deliveries::DROPPED,
        next_attempt_at: None,
        last_error: Some(reason.to_string()),
        attempt: None,
    }
}

fn log_attempt(row: &Claimed, policy: Policy, reply: &Reply, verdict: Verdict) {
    let latency_ms = reply.latency.as_millis() as u64;
    if verdict == Verdict::Delivered {
        tracing::debug!(
            delivery = row.id,
            handler = row.handler_id,
            latency_ms,
            "delivered"
        );
        return;
    }
    tracing::warn!(
        delivery = row.id,
        handler = row.handler_id,
        event = %row.event,
        status = reply.status,
        error = retry::error_class(policy, reply),
        latency_ms,
        verdict = ?verdict,
        "delivery attempt failed"
    );
}
