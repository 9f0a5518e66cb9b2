//! Events and deliveries: recent events (by name), deliveries (by status, webhook, event), one
//! delivery with its attempts, and sending it again (the store call of
//! `POST /admin/deliveries/{id}/redeliver`). Lists show the newest first, [`PAGE`] rows at a
//! time, with a link to older rows.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use b24lite_core::events::CATALOGUE;
use b24lite_store::deliveries::{self, Delivery, DeliveryFilter, Redelivery, STATUSES};
use b24lite_store::events::{self, Event, EventFilter};
use b24lite_store::{AnyConnection, StoreError, apps, bindings, outgoing};
use maud::{Markup, html};

use super::layout::{self, Flash};
use super::session::Session;
use super::{Console, Failure, Id, Page, show_time, store_failed};

/// Rows per page.
const PAGE: i64 = 100;
/// Characters of an attempt's stored answer the page shows.
const ANSWER_SHOWN: usize = 1000;

/// Query parameters as sent; empty values count as absent.
type Filters = Query<HashMap<String, String>>;

fn filter_text<'a>(query: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn filter_id(query: &HashMap<String, String>, key: &str) -> Result<Option<i64>, Failure> {
    filter_text(query, key)
        .map(|raw| {
            raw.parse()
                .map_err(|_| Failure::BadInput(format!("'{key}' must be a number, not '{raw}'.")))
        })
        .transpose()
}

/// `GET /console/events?name=&before=`.
pub async fn events(State(console): State<Console>, session: Session, query: Filters) -> Page {
    let name = filter_text(&query, "name");
    let before = filter_id(&query, "before")?;
    let found = {
        let mut conn = console.conn().await?;
        events::list_newest(&mut conn, name, before, PAGE).await?
    };
    let older = older_link(
        &found,
        |e| e.id,
        |id| {
            let name = name.unwrap_or_default().to_string();
            format!(
                "/console/events?{}",
                query_string(&[("name", name), ("before", id.to_string())])
            )
        },
    );
    let flash = console.sessions.take_flash(&session);
    let body = html! {
        form method="get" action="/console/events" {
            label { "Event " input type="text" name="name" value=(name.unwrap_or_default())
                list="event-names" placeholder="any"; }
            datalist #event-names { @for event in CATALOGUE { option value=(event.name) {} } }
            " " button type="submit" { "Filter" }
        }
        @if found.is_empty() {
            p.muted { "No events." }
        } @else {
            table #events {
                tr {
                    th { "ID" } th { "Time" } th { "Event" } th { "data" } th { "User" }
                    th { "Request" } th { "Deliveries" }
                }
                @for event in &found { (event_row(&console, event)) }
            }
        }
        (older)
    };
    Ok(layout::page("Events", &session, flash, body).into_response())
}

fn event_row(console: &Console, event: &Event) -> Markup {
    html! {
        tr {
            td { (event.id) }
            td { (show_time(&console.app, event.created_at)) }
            td { (event.name) }
            td { code { (event.data.to_string()) } }
            td {
                @match event.user_id {
                    Some(user) => (user),
                    None => span.muted { "none" },
                }
            }
            td { code { (event.request_id) } }
            td { a href={ "/console/deliveries?event_id=" (event.id) } { "show" } }
        }
    }
}

/// A query string of the non-empty `pairs`, percent-encoded.
fn query_string(pairs: &[(&str, String)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs.iter().filter(|(_, value)| !value.is_empty()) {
        query.append_pair(key, value);
    }
    query.finish()
}

/// A link to the page after `rows`, when `rows` filled a page.
fn older_link<T>(rows: &[T], id: impl Fn(&T) -> i64, href: impl Fn(i64) -> String) -> Markup {
    let last = rows.last().filter(|_| rows.len() as i64 == PAGE).map(id);
    html! {
        @if let Some(last) = last {
            p { a href=(href(last)) { "Older" } }
        }
    }
}

/// `GET /console/deliveries?status=&webhook_id=&event_id=&before=`.
pub async fn deliveries(State(console): State<Console>, session: Session, query: Filters) -> Page {
    let status = filter_text(&query, "status");
    if let Some(status) = status.filter(|s| !STATUSES.contains(s)) {
        let text = format!("Unknown status '{status}': use {}.", STATUSES.join(", "));
        return Err(Failure::BadInput(text));
    }
    let filter = DeliveryFilter {
        status: status.map(String::from),
        webhook_id: filter_id(&query, "webhook_id")?,
        event_id: filter_id(&query, "event_id")?,
        limit: PAGE,
        ..DeliveryFilter::default()
    };
    let before = filter_id(&query, "before")?;
    let (found, hooks) = {
        let mut conn = console.conn().await?;
        let found = deliveries::list_newest(&mut conn, &filter, before).await?;
        (found, outgoing::list(&mut conn).await?)
    };
    let older = older_link(
        &found,
        |d| d.id,
        |id| {
            let pairs = [
                ("status", filter.status.clone().unwrap_or_default()),
                (
                    "webhook_id",
                    filter
                        .webhook_id
                        .map(|id| id.to_string())
                        .unwrap_or_default(),
                ),
                (
                    "event_id",
                    filter.event_id.map(|id| id.to_string()).unwrap_or_default(),
                ),
                ("before", id.to_string()),
            ];
            format!("/console/deliveries?{}", query_string(&pairs))
        },
    );
    let flash = console.sessions.take_flash(&session);
    let body = html! {
        form method="get" action="/console/deliveries" {
            label { "Status "
                select name="status" {
                    option value="" { "any" }
                    @for s in STATUSES { option value=(s) selected[status == Some(s)] { (s) } }
                }
            }
            " "
            label { "Outgoing webhook "
                select name="webhook_id" {
                    option value="" { "any" }
                    @for hook in &hooks {
                        option value=(hook.id) selected[filter.webhook_id == Some(hook.id)] {
                            (hook.id) ": " (hook.url)
                        }
                    }
                }
            }
            @if let Some(event_id) = filter.event_id {
                input type="hidden" name="event_id" value=(event_id);
                " event " (event_id) " "
            }
            " " button type="submit" { "Filter" }
        }
        @if found.is_empty() {
            p.muted { "No deliveries." }
        } @else {
            table #deliveries {
                tr {
                    th { "ID" } th { "Event" } th { "Handler" } th { "Status" } th { "Attempts" }
                    th { "Next attempt" } th { "Last error" } th { "Created" }
                }
                @for delivery in &found { (delivery_row(&console, delivery)) }
            }
        }
        (older)
    };
    Ok(layout::page("Deliveries", &session, flash, body).into_response())
}

fn delivery_row(console: &Console, delivery: &Delivery) -> Markup {
    html! {
        tr {
            td { a href={ "/console/deliveries/" (delivery.id) } { (delivery.id) } }
            td { (delivery.event) " (" (delivery.event_id) ")" }
            td { (delivery.handler_id) }
            td { (delivery.status) }
            td { (delivery.attempts) }
            td { (next_attempt(console, delivery)) }
            td { (delivery.last_error.clone().unwrap_or_default()) }
            td { (show_time(&console.app, delivery.created_at)) }
        }
    }
}

fn next_attempt(console: &Console, delivery: &Delivery) -> String {
    let at = delivery.next_attempt_at;
    at.map(|t| show_time(&console.app, t)).unwrap_or_default()
}

/// Where a handler sends: an outgoing webhook's URL, or an application's binding.
async fn target_of(conn: &mut AnyConnection, handler_id: i64) -> Result<String, StoreError> {
    for hook in outgoing::list(conn).await? {
        if hook.handlers.iter().any(|h| h.id == handler_id) {
            return Ok(format!("outgoing webhook {}: {}", hook.id, hook.url));
        }
    }
    for app in apps::list(conn).await? {
        let bound = bindings::list_for_app(conn, app.id, None).await?;
        if let Some(binding) = bound.iter().find(|b| b.id == handler_id) {
            return Ok(format!(
                "application {}: {}",
                app.client_id, binding.handler
            ));
        }
    }
    Ok("a handler that no longer exists".to_string())
}

/// `GET /console/deliveries/{id}`: the delivery, its event, its attempts and a Redeliver button.
pub async fn delivery(State(console): State<Console>, session: Session, Id(id): Id) -> Page {
    let mut conn = console.conn().await?;
    let delivery = deliveries::get(&mut conn, id)
        .await?
        .ok_or_else(|| no_delivery(id))?;
    let attempts = deliveries::attempts(&mut conn, Some(id), 1000).await?;
    let target = target_of(&mut conn, delivery.handler_id).await?;
    let filter = EventFilter {
        after_id: Some(delivery.event_id - 1),
        limit: 1,
        ..EventFilter::default()
    };
    let event = events::list(&mut conn, &filter).await?.into_iter().next();
    drop(conn);
    let flash = console.sessions.take_flash(&session);
    let time = |t: i64| show_time(&console.app, t);
    let path = format!("/console/deliveries/{id}");
    let body = html! {
        table #delivery {
            tr { th { "Event" } td { (delivery.event) " (" (delivery.event_id) ")" } }
            tr { th { "Handler" } td { (delivery.handler_id) ", " (target) } }
            tr { th { "Status" } td { (delivery.status) } }
            tr { th { "Attempts" } td { (delivery.attempts) } }
            tr { th { "Next attempt" } td { (next_attempt(&console, &delivery)) } }
            tr { th { "Last error" } td { (delivery.last_error.clone().unwrap_or_default()) } }
            tr { th { "Created" } td { (time(delivery.created_at)) } }
            tr { th { "Updated" } td { (time(delivery.updated_at)) } }
        }
        @if let Some(event) = event.filter(|e| e.id == delivery.event_id) {
            h2 { "Event data" }
            pre { (serde_json::to_string_pretty(&event.data).unwrap_or_default()) }
        }
        (layout::button(&session, &format!("{path}/redeliver"), "Redeliver", false))
        h2 { "Attempts" }
        @if attempts.is_empty() {
            p.muted { "No attempts yet." }
        } @else {
            table #attempts {
                tr {
                    th { "Time" } th { "HTTP status" } th { "Latency (ms)" } th { "Error class" }
                    th { "Answer (first bytes)" }
                }
                @for attempt in &attempts {
                    tr {
                        td { (time(attempt.started_at)) }
                        td { (attempt.http_status.map(|s| s.to_string()).unwrap_or_default()) }
                        td { (attempt.latency_ms) }
                        td { (attempt.error_class.clone().unwrap_or_default()) }
                        td {
                            @if !attempt.response_body.is_empty() {
                                pre { (answer_start(&attempt.response_body)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(&format!("Delivery {id}"), &session, flash, body).into_response())
}

/// The first [`ANSWER_SHOWN`] characters of a stored answer.
fn answer_start(body: &str) -> String {
    body.chars().take(ANSWER_SHOWN).collect()
}

fn no_delivery(id: i64) -> Failure {
    Failure::NotFound(format!("There is no delivery with ID {id}."))
}

/// `POST /console/deliveries/{id}/redeliver`: due now, with a fresh round of attempts.
pub async fn redeliver(State(console): State<Console>, session: Session, Id(id): Id) -> Page {
    let now = console.app.clock.now();
    let mut tx = console.app.store.begin_write().await?;
    let outcome = deliveries::redeliver(&mut tx, id, now).await?;
    tx.commit().await.map_err(store_failed)?;
    let back = format!("/console/deliveries/{id}");
    let flash = match outcome {
        Redelivery::Queued => {
            console.app.wake_dispatcher();
            Flash::ok(format!("Delivery {id} queued again."))
        }
        Redelivery::Missing => return Err(no_delivery(id)),
        Redelivery::HandlerGone => Flash::error(format!(
            "Delivery {id} cannot be sent again: its handler was deleted."
        )),
        Redelivery::InFlight => Flash::error(format!(
            "Delivery {id} is being sent right now; try again in a moment."
        )),
    };
    Ok(console.done(&session, &back, flash))
}
