//! Outgoing webhooks: the list, and forms to add, enable, disable and delete one. Input is
//! checked by the admin API's own rules ([`check_input`]) and written with the same store
//! functions as `/admin/outgoing-webhooks` and `b24lite outgoing`.

use axum::extract::State;
use axum::response::IntoResponse;
use b24lite_core::events::{
    CONTACT_USERFIELD_ADD, CONTACT_USERFIELD_DELETE, CONTACT_USERFIELD_SETENUMVALUES,
    CONTACT_USERFIELD_UPDATE,
};
use b24lite_core::params::as_php_string;
use b24lite_store::outgoing::{self, Policy};
use maud::html;

use super::form::Form;
use super::layout::{self, Flash, yes_no};
use super::session::Session;
use super::{Console, Failure, Id, Page, show_time, store_failed};
use crate::http::admin::{Invalid, check_input};

/// The events a console webhook can subscribe to.
const EVENTS: [&str; 4] = [
    CONTACT_USERFIELD_ADD,
    CONTACT_USERFIELD_UPDATE,
    CONTACT_USERFIELD_DELETE,
    CONTACT_USERFIELD_SETENUMVALUES,
];

/// `GET /console/webhooks`.
pub async fn list(State(console): State<Console>, session: Session) -> Page {
    let hooks = {
        let mut conn = console.conn().await?;
        outgoing::list(&mut conn).await?
    };
    let flash = console.sessions.take_flash(&session);
    let body = html! {
        @if hooks.is_empty() {
            p.muted { "No outgoing webhooks yet." }
        } @else {
            table #webhooks {
                tr {
                    th { "ID" } th { "URL" } th { "Events (event_handler_id)" } th { "Policy" }
                    th { "Enabled" } th { "application_token" } th { "Created" } th { "Actions" }
                }
                @for hook in &hooks {
                    @let base = format!("/console/webhooks/{}", hook.id);
                    tr {
                        td { (hook.id) }
                        td { code { (hook.url) } }
                        td {
                            @for handler in &hook.handlers {
                                (handler.event) " (" (handler.id) ")" br;
                            }
                        }
                        td { (hook.policy.as_str()) }
                        td { (yes_no(hook.enabled)) }
                        td { code { (hook.application_token) } }
                        td { (show_time(&console.app, hook.created_at)) }
                        td {
                            @let (switch, label) = if hook.enabled {
                                ("disable", "Disable")
                            } else {
                                ("enable", "Enable")
                            };
                            (layout::button(&session, &format!("{base}/{switch}"), label, false))
                            " "
                            a href={ "/console/deliveries?webhook_id=" (hook.id) } { "Deliveries" }
                            " "
                            (layout::button(&session, &format!("{base}/delete"), "Delete", true))
                        }
                    }
                }
            }
        }
        h2 { "Add an outgoing webhook" }
        form.box method="post" action="/console/webhooks" {
            (layout::csrf(&session))
            label { "Handler URL " input type="text" name="url" size="50"
                placeholder="http://127.0.0.1:3000/b24/events" required; }
            fieldset {
                legend { "Events" }
                @for event in EVENTS {
                    label { input type="checkbox" name="events[]" value=(event); " " (event) }
                }
            }
            label { "Policy "
                select name="policy" {
                    option value="bitrix" { "bitrix: one attempt, only HTTP 200 counts" }
                    option value="retry" { "retry: back-off schedule, any 2xx counts" }
                }
            }
            button type="submit" { "Add webhook" }
        }
    };
    Ok(layout::page("Outgoing webhooks", &session, flash, body).into_response())
}

/// `POST /console/webhooks`: `url`, `events[]`, `policy`.
pub async fn add(State(console): State<Console>, session: Session, form: Form) -> Page {
    let url = form.required("url")?;
    let events: Vec<String> = form
        .entries("events")
        .iter()
        .filter_map(|(_, value)| as_php_string(value))
        .collect();
    let policy = form.required("policy")?;
    let (events, policy) = match check_input(Some(&url), Some(&events), Some(&policy)) {
        Ok((events, policy)) => (events.unwrap_or_default(), policy.unwrap_or(Policy::Bitrix)),
        Err(Invalid(_, text)) => {
            return Ok(console.done(&session, "/console/webhooks", Flash::error(text)));
        }
    };
    let mut tx = console.app.store.begin_write().await?;
    let now = console.app.clock.now();
    let hook = outgoing::create(&mut tx, &url, &events, policy, false, now).await?;
    tx.commit().await.map_err(store_failed)?;
    let text = format!(
        "Outgoing webhook {} added; its application_token is {}.",
        hook.id, hook.application_token
    );
    Ok(console.done(&session, "/console/webhooks", Flash::ok(text)))
}

pub async fn enable(console: State<Console>, session: Session, id: Id) -> Page {
    set_enabled(console, session, id, true).await
}

pub async fn disable(console: State<Console>, session: Session, id: Id) -> Page {
    set_enabled(console, session, id, false).await
}

async fn set_enabled(
    State(console): State<Console>,
    session: Session,
    Id(id): Id,
    on: bool,
) -> Page {
    let mut tx = console.app.store.begin_write().await?;
    let found = outgoing::set_enabled(&mut tx, id, on).await?;
    tx.commit().await.map_err(store_failed)?;
    if !found {
        return Err(no_webhook(id));
    }
    let text = format!(
        "Outgoing webhook {id} {}.",
        if on { "enabled" } else { "disabled" }
    );
    Ok(console.done(&session, "/console/webhooks", Flash::ok(text)))
}

/// `POST /console/webhooks/{id}/delete`; its delivery history stays.
pub async fn delete(State(console): State<Console>, session: Session, Id(id): Id) -> Page {
    let mut tx = console.app.store.begin_write().await?;
    let found = outgoing::delete(&mut tx, id).await?;
    tx.commit().await.map_err(store_failed)?;
    if !found {
        return Err(no_webhook(id));
    }
    let text = format!("Outgoing webhook {id} deleted.");
    Ok(console.done(&session, "/console/webhooks", Flash::ok(text)))
}

fn no_webhook(id: i64) -> Failure {
    Failure::NotFound(format!("There is no outgoing webhook with ID {id}."))
}
