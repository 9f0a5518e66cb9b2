//! `b24lite app ...`: register, install and uninstall local applications.
//!
//! `app install` installs an application as a user: `ONAPPINSTALL` is queued for its handler
//! (the running server sends it), and the command prints a token answer of the installing user
//! (JSON, as `/oauth/token/` returns it, plus `application_token`), so a script can call the REST
//! API at once. See [`crate::app_lifecycle`] for what each step does.

use std::process::ExitCode;

use b24lite_store::apps::{self, Lifetimes, NewApp};
use b24lite_store::webhooks;
use clap::Subcommand;

use crate::app_lifecycle::{self, Install, Installed, LifecycleError};
use crate::cli::open_store;
use crate::clock::Clock;
use crate::config::StoreArgs;

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Register a local application; prints `client_id` and `client_secret` on two lines.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        name: String,
        /// Install handler URL: receives ONAPPINSTALL and the OAuth redirect.
        #[arg(long)]
        handler: String,
        /// Scopes, comma-separated (e.g. crm,user).
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
    },
    /// List applications: id, client_id, installed state, scopes, name.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Install an application as a user: queues ONAPPINSTALL for its handler and prints a token
    /// answer as JSON.
    Install {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        client_id: String,
        /// The installing user, an administrator (others get tokens through /oauth/authorize/).
        #[arg(long, default_value_t = 1)]
        user: i64,
        /// The application has an installer UI: events wait for `app finish`.
        #[arg(long)]
        ui: bool,
        /// Access-token lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        access_token_ttl: i64,
        /// Refresh-token lifetime in seconds.
        #[arg(long, default_value_t = crate::config::REFRESH_TOKEN_TTL)]
        refresh_token_ttl: i64,
    },
    /// Finish the installation of an application with an installer UI (`installFinish`).
    Finish {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        client_id: String,
    },
    /// Install a new version of an installed application: queues ONAPPUPDATE; handlers and
    /// tokens stay.
    Update {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        client_id: String,
        /// The new version (default: the installed one plus 1).
        #[arg(long)]
        version: Option<i64>,
    },
    /// Uninstall an application: queues ONAPPUNINSTALL, its tokens stop working, its event
    /// handlers and offline queue are removed.
    Uninstall {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        client_id: String,
        /// The administrator chose to clear the application's data (`CLEAN=1` in ONAPPUNINSTALL).
        #[arg(long)]
        clean: bool,
    },
}

pub async fn run(command: AppCommand) -> anyhow::Result<ExitCode> {
    match command {
        AppCommand::Add {
            store,
            name,
            handler,
            scope,
        } => {
            crate::dispatch::client::check_url(&handler).map_err(anyhow::Error::msg)?;
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            let scopes = webhooks::parse_scopes(&scope.join(","));
            crate::cli::warn_unknown_scopes(&scopes);
            let new = NewApp {
                name,
                handler_url: handler,
                scopes,
            };
            let app = apps::create(&mut conn, &new, Clock::default().now()).await?;
            println!("{}\n{}", app.client_id, app.client_secret);
        }
        AppCommand::List { store } => {
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            for app in apps::list(&mut conn).await? {
                let state = match (app.installed, app.install_finished) {
                    (false, _) => "not-installed",
                    (true, false) => "installing",
                    (true, true) => "installed",
                };
                println!(
                    "{}\t{}\t{state}\t{}\t{}",
                    app.id,
                    app.client_id,
                    app.scopes.join(","),
                    app.name
                );
            }
        }
        AppCommand::Install {
            store,
            client_id,
            user,
            ui,
            access_token_ttl,
            refresh_token_ttl,
        } => {
            let store = open_store(&store).await?;
            let how = Install {
                user_id: user,
                has_ui: ui,
                lifetimes: Lifetimes {
                    access: access_token_ttl,
                    refresh: refresh_token_ttl,
                },
            };
            let now = Clock::default().now();
            let installed = match app_lifecycle::install(&store, &client_id, how, now).await {
                Ok(installed) => installed,
                Err(error) => return refused(error),
            };
            let Installed {
                app,
                tokens,
                portal,
            } = installed;
            let mut answer =
                crate::http::oauth::token_answer(&portal, &app, &tokens, how.lifetimes.access);
            answer["application_token"] = app.application_token.into();
            println!("{answer}");
        }
        AppCommand::Finish { store, client_id } => {
            let store = open_store(&store).await?;
            if let Err(error) = app_lifecycle::finish(&store, &client_id).await {
                return refused(error);
            }
        }
        AppCommand::Update {
            store,
            client_id,
            version,
        } => {
            let store = open_store(&store).await?;
            let now = Clock::default().now();
            match app_lifecycle::update(&store, &client_id, version, now).await {
                Ok(app) => println!("{}", app.version),
                Err(error) => return refused(error),
            }
        }
        AppCommand::Uninstall {
            store,
            client_id,
            clean,
        } => {
            let store = open_store(&store).await?;
            let now = Clock::default().now();
            if let Err(error) = app_lifecycle::uninstall(&store, &client_id, clean, now).await {
                return refused(error);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A refused step: the reason on stderr and exit code 1; storage failures are errors.
fn refused(error: LifecycleError) -> anyhow::Result<ExitCode> {
    match error {
        LifecycleError::Store(error) => Err(error.into()),
        refused => {
            eprintln!("b24lite: {refused}");
            Ok(ExitCode::from(1))
        }
    }
}
