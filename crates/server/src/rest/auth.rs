//! Resolving a call's credentials into a [`Caller`] (decisions 3 and 5).
//!
//! - Incoming webhook (`/rest/{user_id}/{token}/...`): the token is compared in constant time
//!   with each webhook of that user. Unknown user, wrong or expired token: 401
//!   `INVALID_CREDENTIALS`.
//! - OAuth (`/rest/{method}`): the access token comes from `auth` in the query, else `auth` in the
//!   body, else `Authorization: Bearer`. None at all: 401 `NO_AUTH_FOUND`.

use subtle::ConstantTimeEq;

use b24lite_core::RestError;
use b24lite_store::{portal, webhooks};

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

/// FIXME(#5): application access tokens are not issued yet, so every token is unknown.
async fn app_caller(_state: &AppState, _token: &str) -> Result<Caller, RestError> {
    Err(RestError::invalid_token())
}

/// Logs a storage failure and hides it behind Bitrix24's `INTERNAL_SERVER_ERROR`.
pub fn internal(error: impl std::fmt::Display) -> RestError {
    tracing::error!(%error, "storage failure");
    RestError::internal()
}
