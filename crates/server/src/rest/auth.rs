//! Resolving a call's credentials into a [`Caller`] (decisions 3 and 5).
//!
//! - Incoming webhook (`/rest/{user_id}/{token}/...`): the token is compared in constant time
//!   with each webhook of that user. Unknown user, wrong or expired token: 401
//!   `INVALID_CREDENTIALS`.
//! - OAuth (`/rest/{method}`): the access token comes from `auth` in the query, else `auth` in the
//!   body, else `Authorization: Bearer`. None at all: 401 `NO_AUTH_FOUND`.

use subtle::ConstantTimeEq;

use b24lite_core::RestError;
use b24lite_store::{apps, portal, webhooks};

use crate::rest::{Caller, Credential};
use crate::state::AppState;

/// How the URL addressed the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Webhook { user_id: String, token: String },
    OAuth,
}

/// Authenticates a call. `access_token` is the OAuth token found in the request, if any.
pub async fn authenticate(
    state: &AppState,
    route: &Route,
    access_token: Option<&str>,
) -> Result<Caller, RestError> {
    match route {
        Route::Webhook { user_id, token } => webhook_caller(state, user_id, token).await,
        Route::OAuth => match access_token.filter(|t| !t.is_empty()) {
            Some(token) => app_caller(state, token).await,
            None => Err(RestError::no_auth_found()),
        },
    }
}

async fn webhook_caller(state: &AppState, user_id: &str, token: &str) -> Result<Caller, RestError> {
    let user_id: i64 = user_id
        .parse()
        .map_err(|_| RestError::invalid_credentials())?;
    let mut conn = state.store.pool().acquire().await.map_err(internal)?;
    let hooks = webhooks::list_for_user(&mut conn, user_id)
        .await
        .map_err(internal)?;
    let now = state.clock.now();
    let matching = hooks
        .into_iter()
        .find(|hook| bool::from(hook.token.as_bytes().ct_eq(token.as_bytes())))
        .filter(|hook| !hook.is_expired(now))
        .ok_or_else(RestError::invalid_credentials)?;
    let user = portal::get_user(&mut conn, user_id)
        .await
        .map_err(internal)?
        .filter(|user| user.active)
        .ok_or_else(RestError::invalid_credentials)?;
    Ok(Caller {
        user,
        credential: Credential::Webhook {
            webhook_id: matching.id,
            scopes: matching.scopes,
        },
    })
}

/// An application's access token: unknown, revoked, or of an application no longer installed →
/// `invalid_token`; past its lifetime → `expired_token` (clients refresh on exactly that code).
async fn app_caller(state: &AppState, token: &str) -> Result<Caller, RestError> {
    let mut conn = state.store.pool().acquire().await.map_err(internal)?;
    let grant = apps::find_access_token(&mut conn, token)
        .await
        .map_err(internal)?
        .filter(|grant| !grant.revoked)
        .ok_or_else(RestError::invalid_token)?;
    if grant.expires_at <= state.clock.now() {
        return Err(RestError::expired_token());
    }
    let app = apps::get(&mut conn, grant.app_id)
        .await
        .map_err(internal)?
        .filter(|app| app.installed)
        .ok_or_else(RestError::invalid_token)?;
    let user = portal::get_user(&mut conn, grant.user_id)
        .await
        .map_err(internal)?
        .filter(|user| user.active)
        .ok_or_else(RestError::invalid_token)?;
    Ok(Caller {
        user,
        credential: Credential::App {
            app_id: app.id,
            client_id: app.client_id,
            scopes: app.scopes,
        },
    })
}

/// Logs a storage failure and hides it behind Bitrix24's `INTERNAL_SERVER_ERROR`.
pub fn internal(error: impl std::fmt::Display) -> RestError {
    tracing::error!(%error, "storage failure");
    RestError::internal()
}
