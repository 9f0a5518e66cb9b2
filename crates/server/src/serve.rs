//! `b24lite serve`: open the store, prepare the portal, bind, print the addresses, run.

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use b24lite_store::{Store, portal, random, webhooks};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder as AutoBuilder;

use crate::changes::control;
use crate::clock::Clock;
use crate::config::ServeConfig;
use crate::http;
use crate::methods::userfield::cache::FieldCache;
use crate::rest::auth::CredentialCache;
use crate::rest::limits::Limits;
use crate::state::{AppState, Shared};

/// Scopes of the administrator's default webhook printed at start-up.
pub const DEFAULT_WEBHOOK_SCOPES: &[&str] = &["crm", "user"];

/// A server that is bound and ready; [`Server::run`] serves until shutdown.
pub struct Server {
    pub state: AppState,
    pub address: SocketAddr,
    /// The administrator's default webhook URL.
    pub webhook_url: String,
    /// The certificate clients must trust, when serving HTTPS.
    pub certificate: Option<std::path::PathBuf>,
    listener: TcpListener,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    control: Option<control::Socket>,
    /// Held while the server runs; see [`lock_sqlite_file`].
    _sqlite_lock: Option<std::fs::File>,
}

/// One server per SQLite file, however `--data` and `--database-url` name it: two would rewrite
/// the portal's address under each other. The lock is on a file beside the database (SQLite's own
/// locks must not be touched), and the system drops it when the process ends, even on SIGKILL.
/// Management commands take no lock: they share the file with the running server.
fn lock_sqlite_file(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let Some(database) = b24lite_store::sqlite_file(url) else {
        return Ok(None);
    };
    let mut path = database.clone().into_os_string();
    path.push(".lock");
    if let Some(folder) = database.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("creating folder {}", folder.display()))?;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", std::path::Path::new(&path).display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(lock)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another b24lite server uses {}; stop it, or give this one a database of its own",
            database.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).context(format!("locking {}", std::path::Path::new(&path).display()))
        }
    }
}

impl Server {
    /// Opens the store, binds the listener and prepares the portal; nothing is served yet.
    pub async fn bind(config: ServeConfig, clock: Clock) -> anyhow::Result<Server> {
        std::fs::create_dir_all(&config.store.data_dir)
            .with_context(|| format!("creating data folder {}", config.store.data_dir.display()))?;
        // Bound before anything is announced, so that a CLI command run as soon as the
        // addresses are printed reaches this server. A second server on one folder is refused:
        // it would rewrite the portal's address under the first one and share its SQLite file.
        let control = control::bind(&config.store.data_dir).map_err(|occupied| {
            anyhow::anyhow!("{occupied}; stop it, or give this one its own --data")
        })?;
        let sqlite_lock = lock_sqlite_file(&config.store.url())?;
        let store = Store::open(&config.store.url())
            .await
            .context("opening the database")?;

        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("binding {}", config.listen))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let scheme = if config.tls { "https" } else { "http" };
        let base_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("{scheme}://{address}"),
        };

        let now = clock.now();
        // One transaction, locked against other instances preparing the same database.
        let mut tx = store.begin_write().await?;
        portal::lock_preparation(&mut tx).await?;
        let portal = portal::ensure_portal(&mut tx, &base_url, now).await?;
        portal::set_address(&mut tx, &base_url).await?;
        portal::set_language(&mut tx, config.language()).await?;
        let portal = portal::Portal {
            base_url: base_url.clone(),
            domain: portal::domain_of(&base_url),
            ..portal
        };
        portal::ensure_admin(&mut tx, now).await?;
        let scopes: Vec<String> = DEFAULT_WEBHOOK_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect();
        let hook = webhooks::ensure_default(&mut tx, &scopes, now).await?;
        tx.commit().await?;

        let (certificate, tls) = if config.tls {
            let given = config.tls_cert.clone().zip(config.tls_key.clone());
            let (cert, key) = http::tls::ensure_certificate(
                &config.store.data_dir,
                given,
                std::slice::from_ref(&portal.domain),
            )?;
            let tls = http::tls::rustls_config(&cert, &key).await?;
            (Some(cert), Some(tls))
        } else {
            (None, None)
        };

        let admin_key = match &config.admin_key {
            Some(key) => key.clone(),
            None => load_or_create_admin_key(&config.store.data_dir)?,
        };
        let limits = Limits::new(config.rate_limit, config.operating_limit).shared_through(&store);
        let webhook_url = format!("{base_url}/rest/{}/{}/", hook.user_id, hook.token);
        let cache_ttl = Duration::from_secs_f64(config.cache_ttl);
        let state = AppState::new(Shared {
            store,
            config,
            clock,
            registry: crate::methods::registry(),
            portal,
            base_url,
            limits,
            credentials: CredentialCache::new(cache_ttl),
            fields: FieldCache::new(cache_ttl),
            admin_key,
            outbox_signal: tokio::sync::Notify::new(),
            delivery_metrics: Default::default(),
        });
        Ok(Server {
            state,
            address,
            webhook_url,
            certificate,
            listener,
            tls,
            control,
            _sqlite_lock: sqlite_lock,
        })
    }

    /// Prints the lines scripts read: the bound address (always the socket itself, so a port
    /// picked with `:0` is known), the public URL when it differs, the webhook URL, the web
    /// console, the certificate.
    pub fn announce(&self, out: &mut impl Write) -> std::io::Result<()> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let bound = format!("{scheme}://{}", self.address);
        writeln!(
            out,
            "b24lite {} listening on {bound}",
            env!("CARGO_PKG_VERSION"),
        )?;
        if self.state.base_url != bound {
            writeln!(out, "public url: {}", self.state.base_url)?;
        }
        writeln!(
            out,
            "portal: {} (member_id {})",
            self.state.portal.domain, self.state.portal.member_id
        )?;
        writeln!(out, "webhook: {}", self.webhook_url)?;
        writeln!(out, "console: {}/console", self.state.base_url)?;
        if let Some(cert) = &self.certificate {
            writeln!(out, "certificate: {}", cert.display())?;
        }
        out.flush()
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        let dispatcher = crate::dispatch::Dispatcher::start(self.state.clone())?;
        let watchers = crate::changes::Watchers::start(&self.state, self.control);
        let housekeeping = crate::housekeeping::start(self.state.clone());
        let app = http::router(self.state.clone());
        let handle = axum_server::Handle::new();
        tokio::spawn(shutdown_on_signal(handle.clone()));
        let service = app.into_make_service();
        let header_timeout = Duration::from_secs_f64(self.state.config.request_timeout);
        match self.tls {
            Some(tls) => {
                let mut server = axum_server::from_tcp_rustls(self.listener, tls)?;
                limit_header_time(server.http_builder(), header_timeout);
                server.handle(handle).serve(service).await?
            }
            None => {
                let mut server = axum_server::from_tcp(self.listener)?;
                limit_header_time(server.http_builder(), header_timeout);
                server.handle(handle).serve(service).await?
            }
        }
        housekeeping.abort();
        watchers.stop().await;
        dispatcher.stop().await;
        self.state.store.close().await;
        Ok(())
    }
}

/// Closes connections whose request headers take longer than `timeout` to arrive (a client that
/// opens connections and never finishes them would otherwise hold them forever).
fn limit_header_time(builder: &mut AutoBuilder<TokioExecutor>, timeout: Duration) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
}

async fn shutdown_on_signal(handle: axum_server::Handle<SocketAddr>) {
    stop_signal().await;
    tracing::info!("shutting down");
    handle.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// The admin API key kept in the data folder, created on first start.
fn load_or_create_admin_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin.key");
    if let Ok(key) = std::fs::read_to_string(&path) {
        let key = key.trim().to_string();
        if !key.is_empty() {
            return Ok(key);
        }
    }
    let key = random::token(40);
    write_private(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

/// Writes a secret readable by its owner only (the admin key guards client secrets).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, contents.as_bytes())
}
