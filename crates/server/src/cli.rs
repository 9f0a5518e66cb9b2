//! The `b24lite` command line. Scripts rely on these interfaces: keep flags and output stable.
//!
//! Exit codes: 0 success, 1 the thing asked for does not exist, 2 an error (bad arguments, a
//! database that cannot be opened), as ripgrep does.

use std::process::ExitCode;

use anyhow::Context;
use b24lite_store::portal::{self, NewUser};
use b24lite_store::{Store, webhooks};
use clap::{Parser, Subcommand};

use crate::clock::Clock;
use crate::config::{DEFAULT_LISTEN, ServeConfig, StoreArgs};
use crate::serve::Server;
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "b24lite",
    version,
    about = "A local Bitrix24 portal: CRM contact user fields, their events and webhooks"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the portal.
    Serve(Box<ServeConfig>),
    /// Manage portal users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage incoming webhooks (`/rest/{user_id}/{token}/`).
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Manage local applications and their installation.
    #[command(subcommand)]
    App(crate::cli_app::AppCommand),
    /// Manage outgoing webhooks (event subscriptions that POST to a handler URL).
    #[command(subcommand)]
    Outgoing(crate::cli_outgoing::OutgoingCommand),
    /// Inspect event deliveries.
    #[command(subcommand)]
    Deliveries(crate::cli_outgoing::DeliveriesCommand),
    /// Send a delivery again, or every failed delivery of a handler.
    Redeliver(crate::cli_outgoing::RedeliverArgs),
    /// Run a local handler that prints every event delivered to it.
    Listen(crate::listen::ListenArgs),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prints its id.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, default_value = "")]
        last_name: String,
        #[arg(long, default_value = "")]
        email: String,
        /// Make the user a portal administrator.
        #[arg(long)]
        admin: bool,
    },
    /// List users: id, admin flag, name.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Add an incoming webhook; prints its URL alone on stdout.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// The user the webhook acts as.
        #[arg(long)]
        user: i64,
        /// Scopes, comma-separated (e.g. crm,user).
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
        #[arg(long, default_value = "")]
        title: String,
        /// Expiry as Unix seconds; calls after it fail with INVALID_CREDENTIALS.
        #[arg(long)]
        expires_at: Option<i64>,
    },
    /// List webhooks: id, user, scopes, expiry, URL.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a webhook by id.
    Delete {
        #[command(flatten)]
        store: StoreArgs,
        id: i64,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::http::tls::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("b24lite: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("b24lite: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    let code = run_command(command).await?;
    // Whatever the command changed is in force on the running server before it exits.
    if let Some(data_dir) = OPENED_DATA_DIR.get() {
        crate::changes::control::tell_server(data_dir).await;
    }
    Ok(code)
}

/// The data folder of the store a management command opened (see [`open_store`]). Every such
/// command tells the server on that folder that the store may have changed: a read-only one
/// costs the server no more than re-reading what it keeps, and no writing command can forget to.
static OPENED_DATA_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

async fn run_command(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(config) => serve(*config).await,
        Command::User(command) => user(command).await,
        Command::Webhook(command) => webhook(command).await,
        Command::App(command) => crate::cli_app::run(command).await,
        Command::Outgoing(command) => crate::cli_outgoing::outgoing(command).await,
        Command::Deliveries(command) => crate::cli_outgoing::deliveries(command).await,
        Command::Redeliver(args) => crate::cli_outgoing::redeliver(args).await,
        Command::Listen(args) => crate::listen::run(args).await,
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<ExitCode> {
    telemetry::init(config.log_format);
    let server = Server::bind(config, Clock::default()).await?;
    server.announce(&mut std::io::stdout())?;
    server.run().await?;
    Ok(ExitCode::SUCCESS)
}

/// Opens the store for a management command, creating the data folder and the portal if the
/// server has never run there.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<Store> {
    // A mistyped --data or SQLite URL must not quietly create a second portal with credentials
    // of its own.
    let url = args.url();
    if let Some(file) = b24lite_store::sqlite_file(&url)
        && !file.exists()
    {
        if args.database_url.is_some() {
            anyhow::bail!(
                "no b24lite database at {} (check --database-url, or run `b24lite serve` on it once)",
                file.display()
            );
        }
        anyhow::bail!(
            "no b24lite database in {} (check --data, or run `b24lite serve --data {}` once)",
            args.data_dir.display(),
            args.data_dir.display()
        );
    }
    let store = Store::open(&url).await.context("opening the database")?;
    let _ = OPENED_DATA_DIR.set(args.data_dir.clone());
    let now = Clock::default().now();
    let mut conn = store.pool().acquire().await?;
    portal::ensure_portal(&mut conn, &format!("http://{DEFAULT_LISTEN}"), now).await?;
    portal::ensure_admin(&mut conn, now).await?;
    Ok(store)
}

async fn user(command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add {
            store,
            name,
            last_name,
            email,
            admin,
        } => {
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            let new = NewUser {
                name,
                last_name,
                email,
                is_admin: admin,
            };
            let user = portal::create_user(&mut conn, &new, Clock::default().now()).await?;
            println!("{}", user.id);
        }
        UserCommand::List { store } => {
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            for user in portal::list_users(&mut conn).await? {
                let role = if user.is_admin { "admin" } else { "user" };
                println!("{}\t{role}\t{} {}", user.id, user.name, user.last_name);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Tells on stderr of scopes no portal knows; they are kept (and give access to nothing).
pub fn warn_unknown_scopes(scopes: &[String]) {
    let unknown = b24lite_core::scopes::unknown(scopes);
    if !unknown.is_empty() {
        eprintln!(
            "b24lite: warning: not Bitrix24 scopes, kept as given: {}",
            unknown.join(", ")
        );
    }
}

async fn webhook(command: WebhookCommand) -> anyhow::Result<ExitCode> {
    match command {
        WebhookCommand::Add {
            store,
            user,
            scope,
            title,
            expires_at,
        } => {
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            if portal::get_user(&mut conn, user).await?.is_none() {
                eprintln!("b24lite: no user with id {user}");
                return Ok(ExitCode::from(1));
            }
            let scopes = webhooks::parse_scopes(&scope.join(","));
            if scopes.is_empty() {
                eprintln!("b24lite: a webhook needs at least one scope (e.g. --scope crm)");
                return Ok(ExitCode::from(1));
            }
            warn_unknown_scopes(&scopes);
            let now = Clock::default().now();
            let hook = webhooks::create(&mut conn, user, &scopes, &title, expires_at, now).await?;
            let base_url = portal::get_portal(&mut conn).await?.base_url;
            println!("{base_url}/rest/{}/{}/", hook.user_id, hook.token);
        }
        WebhookCommand::List { store } => {
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            let base_url = portal::get_portal(&mut conn).await?.base_url;
            for hook in webhooks::list(&mut conn).await? {
                let expiry = hook
                    .expires_at
                    .map_or_else(|| "-".to_string(), |at| at.to_string());
                let url = format!("{base_url}/rest/{}/{}/", hook.user_id, hook.token);
                println!(
                    "{}\t{}\t{}\t{expiry}\t{url}",
                    hook.id,
                    hook.user_id,
                    hook.scopes.join(",")
                );
            }
        }
        WebhookCommand::Delete { store, id } => {
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            if !webhooks::delete(&mut conn, id).await? {
                eprintln!("b24lite: no webhook with id {id}");
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
