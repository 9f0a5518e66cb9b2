//! `b24lite app ...`: register, install and uninstall local applications.
//!
//! `app install` installs an application as a user and prints the token answer the application
//! would get (JSON, as `/oauth/token/` returns it), so a script can call the REST API at once.

use std::process::ExitCode;

use b24lite_store::apps::{self, Lifetimes, NewApp};
use b24lite_store::{portal, webhooks};
use clap::Subcommand;

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
    /// Install an application as a user; prints the token answer as JSON.
    Install {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        client_id: String,
        /// The installing user (an administrator in Bitrix24).
        #[arg(long, default_value_t = 1)]
        user: i64,
        /// The application has an installer UI: events wait for `app finish`.
        #[arg(long)]
        ui: bool,
        /// Access-token lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        access_token_ttl: i64,
        /// Refresh-token lifetime in seconds.
        #[arg(long, default_value_t = 28 * 24 * 3600)]
        refresh_token_ttl: i64,
    },
    /// Finish the installation of an application with an installer UI (`installFinish`).
    Finish {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        client_id: String,
    },
    /// Uninstall an application: its tokens stop working and its event handlers are removed.
    Uninstall {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        client_id: String,
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
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            let new = NewApp {
                name,
                handler_url: handler,
                scopes: webhooks::parse_scopes(&scope.join(",")),
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
            let lifetimes = Lifetimes {
                access: access_token_ttl,
                refresh: refresh_token_ttl,
            };
            return install(&store, &client_id, user, !ui, lifetimes).await;
        }
        AppCommand::Finish { store, client_id } => {
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            let Some(app) = apps::find_by_client_id(&mut conn, &client_id).await? else {
                return Ok(not_found(&client_id));
            };
            apps::finish_install(&mut conn, app.id).await?;
        }
        AppCommand::Uninstall { store, client_id } => {
            let store = open_store(&store).await?;
            let mut tx = store.begin_write().await?;
            let Some(app) = apps::find_by_client_id(&mut tx, &client_id).await? else {
                return Ok(not_found(&client_id));
            };
            apps::uninstall(&mut tx, app.id).await?;
            b24lite_store::bindings::delete_for_app(&mut tx, app.id).await?;
            tx.commit().await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

// FIXME(#5): ONAPPINSTALL is not yet sent to the handler through the delivery engine; the tokens
// are printed instead.
async fn install(
    store: &b24lite_store::Store,
    client_id: &str,
    user_id: i64,
    finished: bool,
    lifetimes: Lifetimes,
) -> anyhow::Result<ExitCode> {
    let mut tx = store.begin_write().await?;
    let Some(app) = apps::find_by_client_id(&mut tx, client_id).await? else {
        return Ok(not_found(client_id));
    };
    if portal::get_user(&mut tx, user_id).await?.is_none() {
        eprintln!("b24lite: no user with id {user_id}");
        return Ok(ExitCode::from(1));
    }
    let now = Clock::default().now();
    apps::install(&mut tx, app.id, user_id, finished).await?;
    let pair = apps::issue_tokens(&mut tx, app.id, user_id, now, lifetimes).await?;
    let site = portal::get_portal(&mut tx).await?;
    tx.commit().await?;
    let mut answer = crate::http::oauth::token_answer(&site, &app, &pair, lifetimes.access);
    answer["application_token"] = app.application_token.clone().into();
    println!("{answer}");
    Ok(ExitCode::SUCCESS)
}

fn not_found(client_id: &str) -> ExitCode {
    eprintln!("b24lite: no application with client_id {client_id}");
    ExitCode::from(1)
}
