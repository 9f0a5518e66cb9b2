//! State shared by every request of a running server.

use std::ops::Deref;
use std::sync::Arc;

use b24lite_store::Store;
use b24lite_store::portal::Portal;

use crate::clock::Clock;
use crate::config::ServeConfig;
use crate::methods::userfield::cache::FieldCache;
use crate::rest::Registry;
use crate::rest::auth::CredentialCache;
use crate::rest::limits::Limits;

/// Cheap to clone; derefs to [`Shared`].
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Store,
    pub config: ServeConfig,
    pub clock: Clock,
    pub registry: Registry,
    pub portal: Portal,
    /// Scheme, host and port clients reach the portal at, without a trailing slash.
    pub base_url: String,
    pub limits: Limits,
    /// Webhook credentials recently read from the store (see [`CredentialCache`]).
    pub credentials: CredentialCache,
    /// `crm.contact.userfield.get` answers recently read (see [`FieldCache`]).
    pub fields: FieldCache,
    /// Protects `/admin/...`.
    pub admin_key: String,
    /// Signalled after a transaction that recorded events commits.
    pub outbox_signal: tokio::sync::Notify,
    /// Attempt counters and latencies of the delivery engine.
    pub delivery_metrics: crate::dispatch::Metrics,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    /// The portal's language as `LANGUAGE_ID` shows it: `en` when the portal has it, else its
    /// first language.
    pub fn language(&self) -> &str {
        self.config.language()
    }

    /// `https://{domain}/rest/`, as in `client_endpoint`.
    pub fn client_endpoint(&self) -> String {
        format!("{}/rest/", self.base_url)
    }

    /// Forgets the credentials and field definitions kept in memory: another process changed
    /// them (see [`crate::changes`]).
    pub fn forget_cached(&self) {
        self.credentials.clear();
        self.fields.invalidate();
    }

    /// Tells the delivery engine that committed events wait in the outbox. Call it after the
    /// commit, never before: workers must find the rows when they wake.
    pub fn wake_dispatcher(&self) {
        self.outbox_signal.notify_one();
    }

    /// The OAuth server's REST base, as in `server_endpoint`. b24lite is its own OAuth server.
    pub fn server_endpoint(&self) -> String {
        format!("{}/rest/", self.base_url)
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
