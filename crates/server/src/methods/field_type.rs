//! `userfieldtype.add`, `.list`, `.update`, `.delete`: user field types an application registers
//! (scope `placement`, administrators only; `userfields.md` §7.2).
//!
//! The application names a type by its code (`USER_TYPE_ID`); the portal knows it as
//! `rest_{application id}_{code}`, which `crm.contact.userfield.add` accepts (the application
//! may also give its bare code) and `crm.userfield.types` lists for the owning application.
//!
//! Choices where the docs are silent: the code is lower-cased and must be `[a-z0-9_]` with the
//! full id at most 50 characters, else `ERROR_ARGUMENT` naming `USER_TYPE_ID`; the handler must
//! be an http(s) URL on the application's own host (the docs' "same domain" rule), else
//! `ERROR_WRONG_HANDLER_URL`. These methods need an application: an incoming webhook has no
//! application to own the type and gets `WRONG_AUTH_TYPE`, as for `event.bind`.

use b24lite_core::params::{as_php_string, lookup_ci};
use b24lite_core::{Params, RestError};
use b24lite_store::StoreError;
use b24lite_store::field_types::{self, TypeFields};
use serde_json::{Value, json};

use crate::rest::auth::internal;
use crate::rest::paging::{PAGE_SIZE, Page};
use crate::rest::registry::{AuthRule, MethodSpec};
use crate::rest::{CallContext, Credential, MethodOutput, MethodResult, Registry};

/// Longest portal-wide type id (`rest_{app}_{code}`).
const MAX_TYPE_ID: usize = 50;

macro_rules! placement_method {
    ($name:literal, $handler:path) => {
        MethodSpec {
            name: $name,
            scope: "placement",
            auth: AuthRule::AppOnly,
            batchable: true,
            handler: |ctx, params| Box::pin($handler(ctx, params)),
        }
    };
}

pub fn register(registry: &mut Registry) {
    registry.add(placement_method!("userfieldtype.add", add));
    registry.add(placement_method!("userfieldtype.list", list));
    registry.add(placement_method!("userfieldtype.update", update));
    registry.add(placement_method!("userfieldtype.delete", delete));
}

/// The calling application, which must act for an administrator.
fn admin_app(ctx: &CallContext) -> Result<i64, RestError> {
    let Credential::App { app_id, .. } = &ctx.caller.credential else {
        return Err(RestError::wrong_auth_type());
    };
    if !ctx.caller.user.is_admin {
        return Err(RestError::access_denied("Access denied!"));
    }
    Ok(*app_id)
}

fn text(params: &Params, name: &str) -> Option<String> {
    lookup_ci(params, name)
        .and_then(as_php_string)
        .map(|s| s.trim().to_string())
}

/// `USER_TYPE_ID`: required, lower-cased, `[a-z0-9_]`, fitting in 50 characters with its prefix.
fn code(params: &Params, app_id: i64) -> Result<String, RestError> {
    let code = text(params, "USER_TYPE_ID")
        .unwrap_or_default()
        .to_lowercase();
    if code.is_empty() {
        return Err(RestError::argument_null("USER_TYPE_ID"));
    }
    let allowed = code
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !allowed || field_types::user_type_id(app_id, &code).len() > MAX_TYPE_ID {
        return Err(RestError::argument(
            "USER_TYPE_ID",
            format!(
                "USER_TYPE_ID must be a-z, 0-9 and _ and at most {MAX_TYPE_ID} characters with its prefix"
            ),
        ));
    }
    Ok(code)
}

/// A handler must be http(s) on the host of the application's own handler URL.
async fn check_handler(ctx: &CallContext, app_id: i64, handler: &str) -> Result<(), RestError> {
    let wrong = || RestError::new(400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL");
    let url = reqwest::Url::parse(handler).map_err(|_| wrong())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(RestError::new(
            400,
            "ERROR_UNSUPPORTED_PROTOCOL",
            "Unsupported handler protocol",
        ));
    }
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let app = b24lite_store::apps::get(&mut conn, app_id)
        .await
        .map_err(internal)?
        .ok_or_else(RestError::invalid_token)?;
    let app_host = reqwest::Url::parse(&app.handler_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    if url.host_str().is_none() || url.host_str() != app_host.as_deref() {
        return Err(wrong());
    }
    Ok(())
}

/// `OPTIONS`: only `height` (an integer, 0 = the default height) is kept.
fn options(params: &Params) -> Option<String> {
    let options = lookup_ci(params, "OPTIONS")?;
    let height = options
        .as_object()
        .and_then(|o| lookup_ci(o, "height"))
        .map_or(0, b24lite_core::params::as_php_int)
        .max(0);
    Some(json!({"height": height}).to_string())
}

fn taken() -> RestError {
    RestError::new(
        400,
        "ERROR_CORE",
        "Unable to set placement handler: Handler already binded",
    )
}

fn not_found() -> RestError {
    RestError::new(400, "ERROR_NOT_FOUND", "User Field Type not found")
}

async fn add(ctx: CallContext, params: Params) -> MethodResult {
    let app_id = admin_app(&ctx)?;
    let code = code(&params, app_id)?;
    let handler = text(&params, "HANDLER").unwrap_or_default();
    if handler.is_empty() {
        return Err(RestError::argument_null("HANDLER"));
    }
    check_handler(&ctx, app_id, &handler).await?;
    let fields = TypeFields {
        handler: Some(handler),
        title: text(&params, "TITLE"),
        description: text(&params, "DESCRIPTION"),
        options: options(&params),
    };
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    match field_types::add(&mut conn, app_id, &code, &fields, ctx.state.clock.now()).await {
        Ok(()) => {
            ctx.state.fields.invalidate();
            Ok(MethodOutput::new(true))
        }
        Err(StoreError::Conflict) => Err(taken()),
        Err(error) => Err(internal(error)),
    }
}

async fn update(ctx: CallContext, params: Params) -> MethodResult {
    let app_id = admin_app(&ctx)?;
    let code = code(&params, app_id)?;
    let handler = text(&params, "HANDLER").filter(|h| !h.is_empty());
    if let Some(handler) = &handler {
        check_handler(&ctx, app_id, handler).await?;
    }
    let fields = TypeFields {
        handler,
        title: text(&params, "TITLE"),
        description: text(&params, "DESCRIPTION"),
        options: options(&params),
    };
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    match field_types::update(&mut conn, app_id, &code, &fields).await {
        Ok(true) => {
            // Fields of the type show its owner: `get` answers kept so far may be outdated.
            ctx.state.fields.invalidate();
            Ok(MethodOutput::new(true))
        }
        Ok(false) => Err(not_found()),
        Err(StoreError::Conflict) => Err(taken()),
        Err(error) => Err(internal(error)),
    }
}

async fn delete(ctx: CallContext, params: Params) -> MethodResult {
    let app_id = admin_app(&ctx)?;
    let code = code(&params, app_id)?;
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    match field_types::delete(&mut conn, app_id, &code).await {
        Ok(true) => {
            // Fields of the type show its owner: `get` answers kept so far may be outdated.
            ctx.state.fields.invalidate();
            Ok(MethodOutput::new(true))
        }
        Ok(false) => Err(not_found()),
        Err(error) => Err(internal(error)),
    }
}

/// The calling application's types, newest first, paged by 50 with `total`.
async fn list(ctx: CallContext, params: Params) -> MethodResult {
    let app_id = admin_app(&ctx)?;
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let types = field_types::list_for_app(&mut conn, app_id)
        .await
        .map_err(internal)?;
    let page = Page::from_params(&params);
    let total = types.len() as i64;
    let rows: Vec<Value> = types
        .iter()
        .skip(page.offset.max(0) as usize)
        .take(PAGE_SIZE as usize)
        .map(|t| {
            json!({
                "USER_TYPE_ID": t.code,
                "HANDLER": t.handler,
                "TITLE": t.title,
                "DESCRIPTION": t.description,
            })
        })
        .collect();
    Ok(page.output(rows, total))
}
