//! `GET /console/apps`: local applications, their installation state and the handlers they
//! bound (`event.bind`, plus the install handler). Read-only: `b24lite app ...` and
//! `/admin/apps` change them. Client secrets are not shown.

use axum::extract::State;
use axum::response::IntoResponse;
use b24lite_store::apps;
use b24lite_store::bindings::{self, Binding, EventType};
use maud::{Markup, html};

use super::layout::{self, yes_no};
use super::session::Session;
use super::{Console, Page};

pub async fn list(State(console): State<Console>, session: Session) -> Page {
    let mut listed = Vec::new();
    {
        let mut conn = console.conn().await?;
        for app in apps::list(&mut conn).await? {
            let bound = bindings::list_for_app(&mut conn, app.id, None).await?;
            listed.push((app, bound));
        }
    }
    let flash = console.sessions.take_flash(&session);
    let body = html! {
        @if listed.is_empty() {
            p.muted { "No applications. Register one with " code { "b24lite app add" } "." }
        } @else {
            table #apps {
                tr {
                    th { "Name" } th { "client_id" } th { "Version" } th { "Scopes" }
                    th { "Installed" } th { "Installation finished" } th { "Install handler" }
                    th { "Bound handlers" }
                }
                @for (app, bound) in &listed {
                    tr {
                        td { (app.name) }
                        td { code { (app.client_id) } }
                        td { (app.version) }
                        td { (app.scopes.join(", ")) }
                        td { (yes_no(app.installed)) }
                        td {
                            @if app.installed { (yes_no(app.install_finished)) }
                            @else { span.muted { "-" } }
                        }
                        td { code { (app.handler_url) } }
                        td { (bindings_list(bound)) }
                    }
                }
            }
        }
    };
    Ok(layout::page("Applications", &session, flash, body).into_response())
}

fn bindings_list(bound: &[Binding]) -> Markup {
    html! {
        @if bound.is_empty() {
            span.muted { "none" }
        }
        @for binding in bound {
            (binding.event) " (" (binding.id) "): "
            @match binding.event_type {
                EventType::Online => code { (binding.handler) },
                EventType::Offline => {
                    "offline"
                    @if !binding.connector.is_empty() { ", connector " (binding.connector) }
                },
            }
            @if binding.auth_type != 0 { ", as user " (binding.auth_type) }
            br;
        }
    }
}
