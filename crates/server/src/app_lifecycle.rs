//! Installing and removing applications (`rest-protocol.md` §12, `events.md` §9.1, §9.3).
//!
//! Each step changes the application's state and records its lifecycle event in one
//! transaction, so the event goes through the same outbox and delivery engine as every other
//! (whichever process runs the workers; a CLI install is picked up by the server's next sweep).
//! The CLI (`b24lite app`) and the admin API (`/admin/apps`) both call these functions.
//!
//! - **Install** registers the application's install handler URL as its `ONAPPINSTALL` handler
//!   (Bitrix24 stores the install URL as an ordinary event binding with no user, so `event.get`
//!   lists it with `auth_type` `"0"`) and fires `ONAPPINSTALL` at it with tokens of the installing
//!   user (the user behind the event) and a refresh token. An
//!   application with an installer UI gets `ONAPPINSTALL` at once too (decision 27); every other
//!   event waits for [`finish`] and is dropped until then.
//! - **Update** records a new version and fires `ONAPPUPDATE` (`VERSION`, `PREVIOUS_VERSION`,
//!   `LANGUAGE_ID`; tokens of the installing user with a refresh token) at the application's
//!   `ONAPPUPDATE` handlers; handlers and tokens stay (decision 28).
//! - **Uninstall** fires `ONAPPUNINSTALL` (portal keys only: the tokens are revoked), drops what
//!   was still waiting for the application, removes its bindings, offline queue and registered
//!   field types (fields of those types stay), and revokes its tokens. The `ONAPPUNINSTALL` bindings stay until that event is sent; the next install
//!   removes them.

use b24lite_core::events::{APP_INSTALL, APP_UNINSTALL, APP_UPDATE};
use b24lite_store::apps::{self, App, Lifetimes, TokenPair};
use b24lite_store::bindings::{self, EventType, NewBinding};
use b24lite_store::events::{self, NewEvent};
use b24lite_store::{
    Store, StoreError, UnixTime, deliveries, field_types, offline, portal, random,
};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("no application with client_id {0}")]
    NoSuchApp(String),
    #[error("no user with id {0}")]
    NoSuchUser(i64),
    #[error("user {0} is not an administrator: only administrators install applications")]
    NotAdmin(i64),
    #[error("application {0} is already installed")]
    AlreadyInstalled(String),
    #[error("application {0} is not installed")]
    NotInstalled(String),
    #[error("version {given} is not above the installed version {installed}")]
    OldVersion { given: i64, installed: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to install.
#[derive(Debug, Clone, Copy)]
pub struct Install {
    /// The installing user (an administrator in Bitrix24); tokens are theirs.
    pub user_id: i64,
    /// The application has an installer UI: events wait for [`finish`].
    pub has_ui: bool,
    pub lifetimes: Lifetimes,
}

/// An installed application and a token pair of the installing user, as `/oauth/token/` would
/// answer it (the `ONAPPINSTALL` delivery carries a pair of its own, minted when it is sent).
#[derive(Debug, Clone)]
pub struct Installed {
    pub app: App,
    pub tokens: TokenPair,
    pub portal: portal::Portal,
}

pub async fn install(
    store: &Store,
    client_id: &str,
    how: Install,
    now: UnixTime,
) -> Result<Installed, LifecycleError> {
    let mut tx = store.begin_write().await?;
    let app = find(&mut tx, client_id).await?;
    if app.installed {
        return Err(LifecycleError::AlreadyInstalled(client_id.to_string()));
    }
    // Other users get their own tokens by opening the installed application (here: the
    // authorization-code flow with their `user_id`).
    match portal::get_user(&mut tx, how.user_id).await? {
        None => return Err(LifecycleError::NoSuchUser(how.user_id)),
        Some(user) if !user.is_admin => return Err(LifecycleError::NotAdmin(how.user_id)),
        Some(_) => {}
    }
    let site = portal::get_portal(&mut tx).await?;
    // Handlers left by an earlier installation (its ONAPPUNINSTALL bindings) go now.
    bindings::delete_for_app(&mut tx, app.id, None).await?;
    apps::install(&mut tx, app.id, how.user_id, !how.has_ui).await?;
    let install_handler = NewBinding {
        app_id: app.id,
        event: APP_INSTALL.to_string(),
        handler: app.handler_url.clone(),
        auth_type: 0,
        event_type: EventType::Online,
        connector: String::new(),
        options: "{}".to_string(),
    };
    bindings::bind(&mut tx, &install_handler, now).await?;
    let event = NewEvent {
        name: APP_INSTALL.to_string(),
        data: json!({
            "VERSION": app.version.to_string(),
            "ACTIVE": "Y",
            "INSTALLED": if how.has_ui { "N" } else { "Y" },
            "LANGUAGE_ID": site.language,
        }),
        user_id: Some(how.user_id),
        request_id: lifecycle_request_id(),
        auth_connector: None,
        app_id: Some(app.id),
        event_ttl: events::EVENT_TTL,
    };
    events::record(&mut tx, &event, now).await?;
    let tokens = apps::issue_tokens(&mut tx, app.id, how.user_id, now, how.lifetimes).await?;
    let app = find(&mut tx, client_id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Installed {
        app,
        tokens,
        portal: site,
    })
}

/// `installFinish`: events start to reach the application.
pub async fn finish(store: &Store, client_id: &str) -> Result<App, LifecycleError> {
    let mut tx = store.begin_write().await?;
    let app = find_installed(&mut tx, client_id).await?;
    apps::finish_install(&mut tx, app.id).await?;
    let app = find(&mut tx, client_id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(app)
}

/// Installs a new version (`None`: the next one) of an installed application.
pub async fn update(
    store: &Store,
    client_id: &str,
    version: Option<i64>,
    now: UnixTime,
) -> Result<App, LifecycleError> {
    let mut tx = store.begin_write().await?;
    let app = find_installed(&mut tx, client_id).await?;
    let version = version.unwrap_or(app.version + 1);
    if version <= app.version {
        return Err(LifecycleError::OldVersion {
            given: version,
            installed: app.version,
        });
    }
    let site = portal::get_portal(&mut tx).await?;
    apps::set_version(&mut tx, app.id, version).await?;
    let event = NewEvent {
        name: APP_UPDATE.to_string(),
        data: json!({
            "VERSION": version.to_string(),
            "PREVIOUS_VERSION": app.version.to_string(),
            "LANGUAGE_ID": site.language,
        }),
        user_id: app.install_user_id,
        request_id: lifecycle_request_id(),
        auth_connector: None,
        app_id: Some(app.id),
        event_ttl: events::EVENT_TTL,
    };
    events::record(&mut tx, &event, now).await?;
    let app = find(&mut tx, client_id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(app)
}

/// Removes the application; `clean` is the "clear application data" choice sent in `CLEAN`.
pub async fn uninstall(
    store: &Store,
    client_id: &str,
    clean: bool,
    now: UnixTime,
) -> Result<App, LifecycleError> {
    let mut tx = store.begin_write().await?;
    let app = find_installed(&mut tx, client_id).await?;
    let site = portal::get_portal(&mut tx).await?;
    let event = NewEvent {
        name: APP_UNINSTALL.to_string(),
        data: json!({"LANGUAGE_ID": site.language, "CLEAN": i64::from(clean)}),
        user_id: None,
        request_id: lifecycle_request_id(),
        auth_connector: None,
        app_id: Some(app.id),
        event_ttl: events::EVENT_TTL,
    };
    let event_id = events::record(&mut tx, &event, now).await?;
    let reason = "application uninstalled";
    deliveries::drop_pending_for_app(&mut tx, app.id, event_id, reason, now).await?;
    bindings::delete_for_app(&mut tx, app.id, Some(APP_UNINSTALL)).await?;
    offline::delete_for_app(&mut tx, app.id).await?;
    field_types::delete_for_app(&mut tx, app.id).await?;
    apps::uninstall(&mut tx, app.id).await?;
    let app = find(&mut tx, client_id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(app)
}

async fn find(
    conn: &mut b24lite_store::AnyConnection,
    client_id: &str,
) -> Result<App, LifecycleError> {
    apps::find_by_client_id(conn, client_id)
        .await?
        .ok_or_else(|| LifecycleError::NoSuchApp(client_id.to_string()))
}

/// Lifecycle events have no HTTP request behind them; each gets its own id so that the
/// delivery key of decision 23 never merges two of them.
/// The application, refused unless it is installed now.
async fn find_installed(
    conn: &mut b24lite_store::AnyConnection,
    client_id: &str,
) -> Result<App, LifecycleError> {
    let app = find(conn, client_id).await?;
    if !app.installed {
        return Err(LifecycleError::NotInstalled(client_id.to_string()));
    }
    Ok(app)
}

fn lifecycle_request_id() -> String {
    format!("lifecycle-{}", random::hex(16))
}
