//! Who is calling, and what one call may see of the server.

use std::sync::Arc;

use b24lite_store::portal::User;

use crate::state::AppState;

/// The credential a call was authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// `/rest/{user_id}/{token}/...`.
    Webhook {
        webhook_id: i64,
        scopes: Vec<String>,
    },
    /// `/rest/...?auth=ACCESS_TOKEN` from an installed application.
    App {
        app_id: i64,
        client_id: String,
        scopes: Vec<String>,
    },
    /// The web console (`/console`), signed in with the admin key: the portal administrator
    /// with every scope. A console change has no user behind it (decision 26), so the events it
    /// records carry none ([`Caller::event_user_id`]).
    Console { scopes: Vec<String> },
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user the call acts as (for the console, the administrator whose rights it has).
    pub user: User,
    pub credential: Credential,
    /// The event session TTL of the request (reference fact 70): one less than that of the
    /// access token when the token came from an event delivery, else the full
    /// [`b24lite_store::events::EVENT_TTL`]. Events the call records carry it.
    pub event_ttl: i64,
}

impl Caller {
    /// The console's caller: `admin` (the portal administrator) with every scope `registry`
    /// knows.
    pub fn console(admin: User, registry: &crate::rest::Registry) -> Caller {
        let scopes = registry.scopes().into_iter().map(String::from).collect();
        Caller {
            user: admin,
            credential: Credential::Console { scopes },
            event_ttl: b24lite_store::events::EVENT_TTL,
        }
    }

    /// The user an event recorded by this call names: `None` for the console, whose changes no
    /// user makes (decision 26), so application deliveries carry no token keys.
    pub fn event_user_id(&self) -> Option<i64> {
        match self.credential {
            Credential::Console { .. } => None,
            Credential::Webhook { .. } | Credential::App { .. } => Some(self.user.id),
        }
    }

    pub fn is_app(&self) -> bool {
        matches!(self.credential, Credential::App { .. })
    }

    pub fn is_admin(&self) -> bool {
        self.user.is_admin
    }

    pub fn scopes(&self) -> &[String] {
        match &self.credential {
            Credential::Webhook { scopes, .. }
            | Credential::App { scopes, .. }
            | Credential::Console { scopes } => scopes,
        }
    }

    /// `basic` is granted to everyone; `user_brief`/`user_basic` are covered by `user`.
    pub fn has_scope(&self, scope: &str) -> bool {
        scope == "basic"
            || self.scopes().iter().any(|s| {
                s == scope || (s == "user" && matches!(scope, "user_brief" | "user_basic"))
            })
    }

    /// The key the rate limiter and operating-time accounting count under.
    pub fn limit_key(&self) -> String {
        match &self.credential {
            Credential::Webhook { webhook_id, .. } => format!("webhook:{webhook_id}"),
            Credential::App { app_id, .. } => format!("app:{app_id}"),
            Credential::Console { .. } => "console".to_string(),
        }
    }
}

/// Facts about the HTTP request behind a call, shared by all sub-calls of a `batch`.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Unique per HTTP request: identical event deliveries within one request collapse into one
    /// (decision 23), a `batch` counting as one request.
    pub request_id: String,
    /// `auth_connector` of the request, used to keep an app's own changes out of its offline
    /// queue.
    pub auth_connector: Option<String>,
    /// Whether the call runs inside `batch`.
    pub in_batch: bool,
}

/// Everything a method handler gets besides its parameters. Cheap to clone.
#[derive(Clone)]
pub struct CallContext {
    pub state: AppState,
    pub caller: Arc<Caller>,
    pub request: Arc<RequestInfo>,
}

impl CallContext {
    /// The same caller and request, marked as running inside `batch`.
    pub fn for_batch_item(&self) -> CallContext {
        let mut request = (*self.request).clone();
        request.in_batch = true;
        CallContext {
            state: self.state.clone(),
            caller: self.caller.clone(),
            request: Arc::new(request),
        }
    }
}
