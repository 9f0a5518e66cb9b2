//! Resolving a call's credentials into a [`Caller`] (decisions 3 and 5).
//!
//! - Incoming webhook (`/rest/{user_id}/{token}/...`): the token is compared in constant time
//!   with each webhook of that user. Unknown user, wrong or expired token: 401
//!   `INVALID_CREDENTIALS`.
//! - OAuth (`/rest/{method}`): the access token comes from `auth` in the query, else `auth` in the
//!   body, else `Authorization: Bearer`. None at all: 401 `NO_AUTH_FOUND`.
//!
//! Webhook credentials are kept in [`CredentialCache`] for at most `--cache-ttl` (1 s), because
//! the store round trip was most of the cost of a cheap call (issue 7). A token the cache does
//! not match always goes to the store, so a webhook the CLI just added works at once. A webhook
//! or user deleted or changed elsewhere stops working as soon as this server hears of it (see
//! [`crate::changes`]: the CLI tells it before it exits, other instances through PostgreSQL),
//! and within the TTL should that notice be lost.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use b24lite_core::RestError;
use b24lite_store::portal::User;
use b24lite_store::webhooks::IncomingWebhook;
use b24lite_store::{apps, webhooks};

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
    let now = state.clock.now();
    let found = match state.credentials.find(user_id, token) {
        Some(found) => found,
        None => {
            let mut conn = state.store.pool().acquire().await.map_err(internal)?;
            let loaded = webhooks::credentials_of_user(&mut conn, user_id)
                .await
                .map_err(internal)?;
            let Some((user, hooks)) = loaded else {
                state.credentials.forget(user_id);
                return Err(RestError::invalid_credentials());
            };
            state.credentials.put(user_id, user, hooks);
            state
                .credentials
                .find(user_id, token)
                .ok_or_else(RestError::invalid_credentials)?
        }
    };
    let (user, hook) = found;
    if hook.is_expired(now) || !user.active {
        return Err(RestError::invalid_credentials());
    }
    Ok(Caller {
        user,
        credential: Credential::Webhook {
            webhook_id: hook.id,
            scopes: hook.scopes,
        },
        event_ttl: b24lite_store::events::EVENT_TTL,
    })
}

/// Users whose credentials are kept at most; past that the cache starts afresh.
const CACHE_CAPACITY: usize = 4096;

/// Recently read webhooks, per user. Only what the store returned is kept: a token that
/// matches nothing here is looked up in the store again (and an unknown user is never
/// remembered), so new webhooks work at once. Whatever in this process changes a webhook or a
/// user must call [`CredentialCache::forget`] after its commit.
#[derive(Debug)]
pub struct CredentialCache {
    /// How long an entry is trusted: the longest a webhook deleted or a user deactivated by
    /// another process keeps working here if its change notice is lost.
    ttl: Duration,
    users: Mutex<HashMap<i64, Entry>>,
}

#[derive(Debug)]
struct Entry {
    read_at: Instant,
    user: User,
    hooks: Vec<IncomingWebhook>,
}

impl CredentialCache {
    pub fn new(ttl: Duration) -> CredentialCache {
        CredentialCache {
            ttl,
            users: Mutex::default(),
        }
    }

    /// The user and the webhook whose token matches (compared in constant time), if a fresh
    /// entry has them.
    fn find(&self, user_id: i64, token: &str) -> Option<(User, IncomingWebhook)> {
        let users = self.lock();
        let entry = users
            .get(&user_id)
            .filter(|entry| entry.read_at.elapsed() < self.ttl)?;
        let hook = entry
            .hooks
            .iter()
            .find(|hook| bool::from(hook.token.as_bytes().ct_eq(token.as_bytes())))?;
        Some((entry.user.clone(), hook.clone()))
    }

    fn put(&self, user_id: i64, user: User, hooks: Vec<IncomingWebhook>) {
        let mut users = self.lock();
        if users.len() >= CACHE_CAPACITY && !users.contains_key(&user_id) {
            users.clear();
        }
        let read_at = Instant::now();
        users.insert(
            user_id,
            Entry {
                read_at,
                user,
                hooks,
            },
        );
    }

    /// Drops what is known of a user's credentials; the next call reads the store.
    pub fn forget(&self, user_id: i64) {
        self.lock().remove(&user_id);
    }

    /// Drops everything (a change was made elsewhere).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        self.users
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An application's access token: unknown, revoked, or of an application no longer installed →
/// `invalid_token`; past its lifetime → `expired_token` (clients refresh on exactly that code).
async fn app_caller(state: &AppState, token: &str) -> Result<Caller, RestError> {
    let mut conn = state.store.pool().acquire().await.map_err(internal)?;
    let found = apps::token_credentials(&mut conn, token)
        .await
        .map_err(internal)?
        .filter(|found| !found.grant.revoked)
        .ok_or_else(RestError::invalid_token)?;
    if found.grant.expires_at <= state.clock.now() {
        return Err(RestError::expired_token());
    }
    let app = found
        .app
        .filter(|app| app.installed)
        .ok_or_else(RestError::invalid_token)?;
    let user = found
        .user
        .filter(|user| user.active)
        .ok_or_else(RestError::invalid_token)?;
    Ok(Caller {
        user,
        credential: Credential::App {
            app_id: app.id,
            client_id: app.client_id,
            scopes: app.scopes,
        },
        // Fact 70: a token delivered by an event passes its session on, one step lower.
        event_ttl: found
            .grant
            .event_ttl
            .map_or(b24lite_store::events::EVENT_TTL, |ttl| (ttl - 1).max(0)),
    })
}

/// Logs a storage failure and hides it behind Bitrix24's `INTERNAL_SERVER_ERROR`.
pub fn internal(error: impl std::fmt::Display) -> RestError {
    tracing::error!(%error, "storage failure");
    RestError::internal()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(id: i64, token: &str) -> IncomingWebhook {
        IncomingWebhook {
            id,
            user_id: 2,
            token: token.to_string(),
            scopes: vec!["crm".into()],
            title: String::new(),
            expires_at: None,
            created_at: 0,
        }
    }

    fn user() -> User {
        User {
            id: 2,
            name: "Ann".into(),
            last_name: "Lee".into(),
            email: String::new(),
            gender: String::new(),
            time_zone: String::new(),
            is_admin: false,
            active: true,
        }
    }

    #[test]
    fn cached_credentials_match_tokens_and_go_stale() {
        let ttl = Duration::from_secs(1);
        let cache = CredentialCache::new(ttl);
        cache.put(2, user(), vec![hook(7, "abc"), hook(8, "def")]);
        assert_eq!(cache.find(2, "def").map(|(_, h)| h.id), Some(8));
        assert!(cache.find(2, "xyz").is_none());
        assert!(cache.find(3, "abc").is_none());

        let past = Instant::now().checked_sub(ttl).unwrap();
        cache.lock().get_mut(&2).unwrap().read_at = past;
        assert!(
            cache.find(2, "abc").is_none(),
            "stale entries are read again"
        );

        cache.put(2, user(), vec![hook(7, "abc")]);
        cache.forget(2);
        assert!(cache.find(2, "abc").is_none());

        cache.put(2, user(), vec![hook(7, "abc")]);
        cache.clear();
        assert!(cache.find(2, "abc").is_none());
    }
}
