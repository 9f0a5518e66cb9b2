//! `events`, `event.bind`, `event.unbind`, `event.get`, `event.test` (`events.md` §3-§4, §11, facts
//! 85-92, decisions 29-31). All are for applications only: an incoming webhook gets 403
//! `WRONG_AUTH_TYPE` from the registry.
//!
//! Choices where Bitrix24 and b24lite differ on purpose: handlers on loopback and on hosts without
//! a dot are accepted by default (local development is the main use); Bitrix24 refuses them with
//! `ERROR_WRONG_HANDLER_URL`, and so does b24lite under `--refuse-private-targets` (decision 29),
//! which also refuses private and link-local address literals.
//!
//! As in the server code, the connector of a binding is the request's `auth_connector` (the key
//! the offline methods and echo suppression read), not a parameter of its own; `SCOPE` given at
//! all, even empty, wins over `FULL` in `events`, and an empty one lists the `basic` events.

use b24lite_core::params::{as_php_int, as_php_string, lookup_ci};
use b24lite_core::{Params, RestError};
use b24lite_store::StoreError;
use b24lite_store::bindings::{self, EventType, NewBinding, Unbind};
use serde_json::{Value, json};

use crate::dispatch::client::is_private_literal;
use crate::rest::auth::internal;
use crate::rest::registry::{AuthRule, MethodSpec};
use crate::rest::{CallContext, Credential, MethodOutput, MethodResult, Registry};

macro_rules! app_method {
    ($name:literal, $handler:path) => {
        MethodSpec {
            name: $name,
            scope: "basic",
            auth: AuthRule::AppOnly,
            batchable: true,
            handler: |ctx, params| Box::pin($handler(ctx, params)),
        }
    };
}

pub fn register(registry: &mut Registry) {
    registry.add(app_method!("events", events));
    registry.add(app_method!("event.bind", bind));
    registry.add(app_method!("event.unbind", unbind));
    registry.add(app_method!("event.get", get));
    registry.add(app_method!("event.test", test));
}

/// The calling application's id and scopes (the registry admits only applications here).
fn app_of(ctx: &CallContext) -> Result<(i64, &[String]), RestError> {
    match &ctx.caller.credential {
        Credential::App { app_id, scopes, .. } => Ok((*app_id, scopes)),
        Credential::Webhook { .. } | Credential::Console { .. } => {
            Err(RestError::wrong_auth_type())
        }
    }
}

fn text(params: &Params, name: &str) -> String {
    lookup_ci(params, name)
        .and_then(as_php_string)
        .unwrap_or_default()
        .trim()
        .to_string()
}

async fn events(ctx: CallContext, params: Params) -> MethodResult {
    let (_, scopes) = app_of(&ctx)?;
    let scope = lookup_ci(&params, "SCOPE").map(|_| text(&params, "SCOPE").to_lowercase());
    let full = lookup_ci(&params, "FULL").is_some_and(b24lite_core::params::is_truthy);
    let names: Vec<&str> = b24lite_core::events::CATALOGUE
        .iter()
        .filter(|event| match (&scope, full) {
            (Some(scope), _) if scope.is_empty() => event.scope == "basic",
            (Some(scope), _) => event.scope == scope,
            (None, true) => true,
            (None, false) => event.scope == "basic" || scopes.iter().any(|s| s == event.scope),
        })
        .map(|event| event.name)
        .collect();
    Ok(MethodOutput::new(json!(names)))
}

/// The request's `auth_connector` (`""` without one): the channel an offline binding feeds.
fn connector_of(ctx: &CallContext) -> String {
    ctx.request.auth_connector.clone().unwrap_or_default()
}

/// `event_type`: `online` (default) or `offline`.
fn event_type(params: &Params) -> Result<EventType, RestError> {
    match text(params, "EVENT_TYPE").to_lowercase().as_str() {
        "" | "online" => Ok(EventType::Online),
        "offline" => Ok(EventType::Offline),
        _ => Err(RestError::argument(
            "EVENT_TYPE",
            "Value must be one of {online|offline}",
        )),
    }
}

/// `auth_type` as given: `None` when absent or empty.
fn auth_type(params: &Params) -> Option<i64> {
    lookup_ci(params, "AUTH_TYPE")
        .filter(|v| as_php_string(v).is_some_and(|s| !s.trim().is_empty()))
        .map(as_php_int)
}

/// `auth_type` of `event.unbind`: absent or `null` matches every user (decision 30, BX24.js's
/// `null`); any other value, an empty one included, is a user id, `0` and empty meaning the
/// handlers bound without a user (`events.md` §3.3).
fn unbind_auth_type(params: &Params) -> Option<i64> {
    lookup_ci(params, "AUTH_TYPE")
        .filter(|v| !v.is_null())
        .map(as_php_int)
}

async fn bind(ctx: CallContext, params: Params) -> MethodResult {
    let (app_id, scopes) = app_of(&ctx)?;
    let user = &ctx.caller.user;
    let requested_user = auth_type(&params).unwrap_or(0);
    if requested_user > 0 && requested_user != user.id && !user.is_admin {
        return Err(RestError::access_denied(
            "Access denied! Event binding with AUTH_TYPE requires administrator access rights",
        ));
    }
    let event = text(&params, "EVENT").to_uppercase();
    if event.is_empty() {
        return Err(RestError::argument_null("EVENT"));
    }
    let event_type = event_type(&params)?;
    if event_type == EventType::Offline && !user.is_admin {
        return Err(RestError::access_denied(
            "Access denied! Offline events binding requires administrator access rights",
        ));
    }
    let handler = match event_type {
        EventType::Online => check_handler(
            &text(&params, "HANDLER"),
            ctx.state.config.delivery.refuse_private_targets,
        )?,
        EventType::Offline => String::new(),
    };
    let known = b24lite_core::events::find(&event)
        .filter(|info| info.scope == "basic" || scopes.iter().any(|s| s == info.scope))
        .ok_or_else(|| RestError::new(400, "ERROR_EVENT_NOT_FOUND", "Event not found"))?;
    if event_type == EventType::Offline && known.name == "ONOFFLINEEVENT" {
        // A plain REST exception with the argument code: no `argument` key.
        return Err(RestError::new(
            400,
            "ERROR_ARGUMENT",
            "Offline event cannot be registered for this event.",
        ));
    }

    let binding = NewBinding {
        app_id,
        event: known.name.to_string(),
        handler,
        auth_type: match event_type {
            EventType::Offline => 0,
            EventType::Online if user.is_admin => requested_user,
            EventType::Online => user.id,
        },
        event_type,
        connector: connector_of(&ctx),
        options: options_for(known.name, &params),
    };
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    match bindings::bind(&mut conn, &binding, ctx.state.clock.now()).await {
        Ok(_) => Ok(MethodOutput::new(true)),
        Err(StoreError::Conflict) => Err(RestError::new(
            400,
            "ERROR_CORE",
            "Unable to set event handler: Handler already binded",
        )),
        Err(error) => Err(internal(error)),
    }
}

/// A handler must be an absolute http(s) URL; under the private-target policy, not on
/// `localhost`, a host without a dot, or a private address literal.
fn check_handler(handler: &str, refuse_private: bool) -> Result<String, RestError> {
    if handler.is_empty() {
        return Err(RestError::argument_null("HANDLER"));
    }
    let wrong_url = || RestError::new(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL");
    // The host is judged before the scheme, as in the server code (fact 87.6).
    let url = reqwest::Url::parse(handler).map_err(|_| wrong_url())?;
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err(wrong_url());
    }
    if refuse_private && (!host.contains('.') || is_private_literal(&url)) {
        return Err(wrong_url());
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(RestError::new(
            400,
            "ERROR_UNSUPPORTED_PROTOCOL",
            "Unsupported handler protocol",
        ));
    }
    Ok(handler.to_string())
}

/// Keeps only the options an event declares: `minTimeout` (integer seconds) of `ONOFFLINEEVENT`.
fn options_for(event: &str, params: &Params) -> String {
    let min_timeout = lookup_ci(params, "OPTIONS")
        .and_then(|options| lookup_ci(options.as_object()?, "minTimeout"));
    match (event, min_timeout) {
        ("ONOFFLINEEVENT", Some(value)) => json!({"minTimeout": as_php_int(value)}).to_string(),
        _ => "{}".to_string(),
    }
}

async fn unbind(ctx: CallContext, params: Params) -> MethodResult {
    let (app_id, _) = app_of(&ctx)?;
    let user = &ctx.caller.user;
    let requested_user = unbind_auth_type(&params);
    if requested_user.is_some_and(|id| id > 0 && id != user.id) && !user.is_admin {
        return Err(RestError::access_denied(
            "Access denied! Event unbinding with AUTH_TYPE requires administrator access rights",
        ));
    }
    let event = text(&params, "EVENT").to_uppercase();
    if event.is_empty() {
        return Err(RestError::argument_null("EVENT"));
    }
    let event_type = event_type(&params)?;
    if event_type == EventType::Offline && !user.is_admin {
        return Err(RestError::access_denied(
            "Access denied! Offline events unbinding requires administrator access rights",
        ));
    }
    let handler = Some(text(&params, "HANDLER")).filter(|h| !h.is_empty());
    let which = match event_type {
        EventType::Online => Unbind {
            app_id,
            event,
            event_type,
            handler,
            auth_type: if user.is_admin {
                requested_user
            } else {
                Some(user.id)
            },
            connector: None,
        },
        EventType::Offline => Unbind {
            app_id,
            event,
            event_type,
            handler: None,
            auth_type: None,
            connector: Some(connector_of(&ctx)),
        },
    };
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let count = bindings::unbind(&mut conn, &which)
        .await
        .map_err(internal)?;
    Ok(MethodOutput::new(json!({"count": count})))
}

async fn get(ctx: CallContext, _params: Params) -> MethodResult {
    let (app_id, _) = app_of(&ctx)?;
    let user = &ctx.caller.user;
    let only_user = (!user.is_admin).then_some(user.id);
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let rows = bindings::list_for_app(&mut conn, app_id, only_user)
        .await
        .map_err(internal)?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|binding| match binding.event_type {
            EventType::Online => json!({
                "event": binding.event,
                "handler": binding.handler,
                "auth_type": binding.auth_type.to_string(),
                "offline": 0,
            }),
            EventType::Offline => json!({
                "event": binding.event,
                "connector_id": binding.connector,
                "offline": 1,
            }),
        })
        .collect();
    Ok(MethodOutput::new(Value::Array(items)))
}

/// Fires `ONAPPTEST` at the calling application's own `ONAPPTEST` handlers, with the call's
/// parameters in `data.QUERY` (without `auth` and `auth_connector`, which the protocol layer
/// takes out of every call) and the portal language in `data.LANGUAGE_ID`; answers `1`.
async fn test(ctx: CallContext, mut params: Params) -> MethodResult {
    let (app_id, _) = app_of(&ctx)?;
    // Fact 11: the REST server takes `start` (exact key) before any method runs, so the query
    // the method echoes never holds it; the rest keep their order.
    params.shift_remove("start");
    let event = b24lite_store::events::NewEvent {
        name: b24lite_core::events::APP_TEST.to_string(),
        data: json!({"QUERY": params, "LANGUAGE_ID": ctx.state.language()}),
        user_id: Some(ctx.caller.user.id),
        request_id: ctx.request.request_id.clone(),
        auth_connector: ctx.request.auth_connector.clone(),
        app_id: Some(app_id),
        event_ttl: ctx.caller.event_ttl,
    };
    let mut tx = ctx.state.store.begin_write().await.map_err(internal)?;
    b24lite_store::events::record(&mut tx, &event, ctx.state.clock.now())
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    ctx.state.wake_dispatcher();
    Ok(MethodOutput::new(1))
}
