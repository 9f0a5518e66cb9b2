//! `GET /console`: the portal at a glance: its identity, the administrator's webhook URL, what
//! the store holds and the state of the delivery queue.

use axum::extract::State;
use axum::response::IntoResponse;
use b24lite_store::{AnyConnection, StoreError, apps, contacts, deliveries, outgoing, portal};
use b24lite_store::{userfields, webhooks};
use maud::html;

use super::layout::{self, Flash};
use super::session::Session;
use super::{Console, Page};
use crate::methods::userfield::ENTITY;

/// How many of each thing the store holds.
struct Counts {
    users: usize,
    fields: usize,
    contacts: i64,
    incoming_webhooks: usize,
    outgoing_webhooks: usize,
    apps: usize,
    /// Deliveries per status, every status listed.
    deliveries: Vec<(&'static str, i64)>,
}

async fn counts(conn: &mut AnyConnection) -> Result<Counts, StoreError> {
    let by_status = deliveries::count_by_status(conn).await?;
    let deliveries = deliveries::STATUSES
        .iter()
        .map(|status| {
            let n = by_status.iter().find(|(s, _)| s == status).map(|(_, n)| *n);
            (*status, n.unwrap_or(0))
        })
        .collect();
    Ok(Counts {
        users: portal::list_users(conn).await?.len(),
        fields: userfields::list_fields(conn, ENTITY, &[], &[]).await?.len(),
        contacts: contacts::list_contacts(conn, &[], &[], 0, 0, true).await?.1,
        incoming_webhooks: webhooks::list(conn).await?.len(),
        outgoing_webhooks: outgoing::list(conn).await?.len(),
        apps: apps::list(conn).await?.len(),
        deliveries,
    })
}

/// The URL of the administrator's default webhook (the one `serve` prints), if it still exists.
async fn webhook_url(
    console: &Console,
    conn: &mut AnyConnection,
) -> Result<Option<String>, StoreError> {
    let base = &console.app.base_url;
    let hook = webhooks::find_default(conn).await?;
    Ok(hook.map(|hook| format!("{base}/rest/{}/{}/", hook.user_id, hook.token)))
}

pub async fn show(State(console): State<Console>, session: Session) -> Page {
    let mut conn = console.conn().await?;
    let counts = counts(&mut conn).await?;
    let webhook = webhook_url(&console, &mut conn).await?;
    drop(conn);
    let portal = &console.app.portal;
    let flash: Option<Flash> = console.sessions.take_flash(&session);
    let queue_depth = counts.deliveries[0].1;
    let body = html! {
        table {
            tr { th { "Portal domain" } td { (portal.domain) } }
            tr { th { "member_id" } td { code { (portal.member_id) } } }
            tr { th { "REST base" } td { code { (console.app.client_endpoint()) } } }
            tr { th { "Language" } td { (console.app.language()) } }
        }
        h2 { "Administrator's incoming webhook" }
        @match webhook {
            Some(url) => {
                p { input.copy type="text" readonly value=(url) aria-label="webhook URL"; }
                p.muted { "Select the URL and copy it; append a method name to call it." }
            }
            None => p.muted {
                "The default webhook was deleted; restart the server to get a new one."
            },
        }
        h2 { "Contents" }
        table {
            tr { th { "Users" } td { (counts.users) } }
            tr {
                th { a href="/console/fields" { "Contact custom fields" } }
                td { (counts.fields) }
            }
            tr { th { "Contacts" } td { (counts.contacts) } }
            tr { th { "Incoming webhooks" } td { (counts.incoming_webhooks) } }
            tr {
                th { a href="/console/webhooks" { "Outgoing webhooks" } }
                td { (counts.outgoing_webhooks) }
            }
            tr { th { a href="/console/apps" { "Applications" } } td { (counts.apps) } }
        }
        h2 { "Delivery queue" }
        p { "Queue depth: " strong #queue-depth { (queue_depth) } " waiting" }
        table {
            tr { th { "Status" } th { "Deliveries" } }
            @for (status, n) in &counts.deliveries {
                tr {
                    td { a href={ "/console/deliveries?status=" (status) } { (status) } }
                    td { (n) }
                }
            }
        }
    };
    Ok(layout::page("Overview", &session, flash, body).into_response())
}
