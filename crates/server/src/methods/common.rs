//! System methods every caller has (`rest-protocol.md` §13): `scope`, `methods`, `method.get`,
//! `feature.get`, `server.time`, `profile`, `user.admin`, `user.current`.

use b24lite_core::params::{as_php_string, is_truthy, lookup_ci};
use b24lite_core::{Params, RestError};
use serde_json::{Value, json};

use crate::method;
use crate::rest::envelope::format_date;
use crate::rest::{CallContext, MethodOutput, MethodResult, Registry};

pub fn register(registry: &mut Registry) {
    registry.add(method!("scope", "basic", scope));
    registry.add(method!("methods", "basic", methods));
    registry.add(method!("method.get", "basic", method_get));
    registry.add(method!("feature.get", "basic", feature_get));
    registry.add(method!("server.time", "basic", server_time));
    registry.add(method!("profile", "basic", profile));
    registry.add(method!("user.admin", "basic", user_admin));
    registry.add(method!("user.current", "user_brief", user_current));
}

/// Without parameters: the caller's scopes. `full=true`: every scope the portal serves.
async fn scope(ctx: CallContext, params: Params) -> MethodResult {
    if lookup_ci(&params, "full").is_some_and(is_truthy) {
        return Ok(MethodOutput::new(json!(ctx.state.registry.scopes())));
    }
    Ok(MethodOutput::new(json!(ctx.caller.scopes())))
}

/// Method names: the caller's (default), all (`full=true`), or one scope's (`scope=X`; an empty
/// `scope` lists the common `basic` methods).
async fn methods(ctx: CallContext, params: Params) -> MethodResult {
    let registry = &ctx.state.registry;
    let names: Vec<&str> = if let Some(scope) = lookup_ci(&params, "scope").and_then(as_php_string)
    {
        let scope = if scope.is_empty() {
            "basic".to_string()
        } else {
            scope.to_lowercase()
        };
        // `user` grants `user_brief` and `user_basic`: list their methods under it too.
        let user_family = scope == "user";
        registry
            .iter()
            .filter(|m| {
                m.scope == scope || (user_family && matches!(m.scope, "user_brief" | "user_basic"))
            })
            .map(|m| m.name)
            .collect()
    } else if lookup_ci(&params, "full").is_some_and(is_truthy) {
        registry.iter().map(|m| m.name).collect()
    } else {
        registry
            .iter()
            .filter(|m| ctx.caller.has_scope(m.scope))
            .map(|m| m.name)
            .collect()
    };
    Ok(MethodOutput::new(json!(names)))
}

async fn method_get(ctx: CallContext, params: Params) -> MethodResult {
    let name = lookup_ci(&params, "name")
        .and_then(as_php_string)
        .unwrap_or_default();
    let spec = (!name.is_empty())
        .then(|| ctx.state.registry.get(&name))
        .flatten();
    let available = spec.is_some_and(|m| ctx.caller.has_scope(m.scope));
    Ok(MethodOutput::new(
        json!({"isExisting": spec.is_some(), "isAvailable": available}),
    ))
}

/// Both documented features are on: b24lite has offline events with reservation and connectors.
async fn feature_get(_ctx: CallContext, params: Params) -> MethodResult {
    let code = lookup_ci(&params, "CODE")
        .and_then(as_php_string)
        .unwrap_or_default();
    if code.is_empty() {
        return Err(RestError::new(400, "CODE_EMPTY", "CODE can't be empty"));
    }
    let on = matches!(
        code.as_str(),
        "rest_offline_extended" | "rest_auth_connector"
    );
    Ok(MethodOutput::new(
        json!({"value": if on { "Y" } else { "N" }}),
    ))
}

async fn server_time(ctx: CallContext, _params: Params) -> MethodResult {
    let now = ctx.state.clock.now_f64();
    Ok(MethodOutput::new(format_date(
        now,
        ctx.state.config.utc_offset,
    )))
}

async fn profile(ctx: CallContext, _params: Params) -> MethodResult {
    let user = &ctx.caller.user;
    if !user.active {
        return Ok(MethodOutput::new(json!({})));
    }
    Ok(MethodOutput::new(json!({
        "ID": user.id.to_string(),
        "ADMIN": user.is_admin,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "PERSONAL_GENDER": user.gender,
        "TIME_ZONE": user.time_zone,
    })))
}

async fn user_admin(ctx: CallContext, _params: Params) -> MethodResult {
    Ok(MethodOutput::new(ctx.caller.is_admin()))
}

/// The caller as `user.current` shows it: IDs and dates as strings, `ACTIVE` a boolean.
async fn user_current(ctx: CallContext, _params: Params) -> MethodResult {
    let user = &ctx.caller.user;
    Ok(MethodOutput::new(json!({
        "ID": user.id.to_string(),
        "XML_ID": Value::Null,
        "ACTIVE": user.active,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "SECOND_NAME": "",
        "EMAIL": user.email,
        "PERSONAL_GENDER": user.gender,
        "TIME_ZONE": user.time_zone,
        "IS_ONLINE": "N",
        "UF_DEPARTMENT": [1],
        "USER_TYPE": "employee",
    })))
}
