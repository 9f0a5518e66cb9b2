//! `app.info`: the calling application as the portal knows it (`rest-protocol.md` §13).
//!
//! b24lite plays a self-hosted enterprise portal: `LICENSE` is `<lang>_ent250`, the application
//! is never in a payment period (`PAYMENT_EXPIRED` `N`, `DAYS` null), and `INSTALLED` is true once
//! installation has finished.

use b24lite_core::{Params, RestError};
use b24lite_store::apps;
use serde_json::{Value, json};

use crate::method;
use crate::rest::auth::internal;
use crate::rest::{CallContext, Credential, MethodOutput, MethodResult, Registry};

pub fn register(registry: &mut Registry) {
    registry.add(method!("app.info", "basic", app_info));
}

async fn app_info(ctx: CallContext, _params: Params) -> MethodResult {
    let Credential::App { app_id, .. } = ctx.caller.credential else {
        return Err(RestError::new(
            400,
            "ACCESS_DENIED",
            "Access denied! Application context required",
        ));
    };
    let mut conn = ctx.state.store.pool().acquire().await.map_err(internal)?;
    let app = apps::get(&mut conn, app_id)
        .await
        .map_err(internal)?
        .ok_or_else(RestError::invalid_token)?;
    let language = ctx.state.language();
    Ok(MethodOutput::new(json!({
        "ID": app.id,
        "CODE": app.client_id,
        "VERSION": app.version,
        "STATUS": app.status,
        "INSTALLED": app.install_finished,
        "PAYMENT_EXPIRED": "N",
        "DAYS": Value::Null,
        "LANGUAGE_ID": language,
        "LICENSE": format!("{language}_ent250"),
        "LICENSE_TYPE": "ent250",
        "LICENSE_FAMILY": "ent",
    })))
}
