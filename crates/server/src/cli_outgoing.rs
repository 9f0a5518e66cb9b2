//! `b24lite outgoing ...`, `b24lite deliveries list` and `b24lite redeliver`: outgoing webhooks
//! and the delivery log, managed on the store directly. They work while a server runs on the
//! same store: each command tells that server of its change before it exits
//! ([`crate::changes::control`]).
//!
//! Output (tab-separated, stable for scripts): `outgoing add` prints `ID<TAB>APPLICATION_TOKEN`,
//! and `ID<TAB>APPLICATION_TOKEN<TAB>SIGNING_SECRET` with `--sign`; `outgoing sign` prints the new
//! signing secret, `outgoing unsign` nothing; `outgoing list` prints `ID, enabled|disabled,
//! POLICY, URL, APPLICATION_TOKEN, EVENT=HANDLER_ID,...` (signing is not shown: see the admin
//! API); `deliveries list` prints `ID, EVENT_ID, EVENT, HANDLER_ID, STATUS, ATTEMPTS,
//! NEXT_ATTEMPT_AT|-, LAST_ERROR|-`; `redeliver` prints how many deliveries it queued.

use std::process::ExitCode;

use b24lite_store::deliveries::{self, DeliveryFilter, Redelivery};
use b24lite_store::outgoing::{self, OutgoingWebhook, Policy, Signing};

use crate::cli::open_store;
use crate::clock::Clock;
use crate::config::StoreArgs;
use crate::dispatch::client::check_url;

#[derive(Debug, clap::Subcommand)]
pub enum OutgoingCommand {
    /// Add an outgoing webhook; prints its id and application_token.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Handler URL (http:// or https://).
        #[arg(long)]
        url: String,
        /// Event to send, in any letter case; repeat for several.
        #[arg(long = "event", required = true)]
        events: Vec<String>,
        /// `bitrix` (one attempt, only HTTP 200 counts) or `retry` (back-off schedule, any 2xx).
        #[arg(long, default_value = "bitrix", value_parser = parse_policy)]
        policy: Policy,
        /// Sign deliveries (Standard Webhooks `webhook-*` headers); also prints the secret.
        #[arg(long)]
        sign: bool,
    },
    /// List outgoing webhooks.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete an outgoing webhook (its delivery history stays).
    Delete {
        #[command(flatten)]
        store: StoreArgs,
        id: i64,
    },
    /// Enable an outgoing webhook.
    Enable {
        #[command(flatten)]
        store: StoreArgs,
        id: i64,
    },
    /// Disable an outgoing webhook: its pending deliveries are dropped.
    Disable {
        #[command(flatten)]
        store: StoreArgs,
        id: i64,
    },
    /// Sign a webhook's deliveries with a new secret (switches signing on, or rotates the
    /// secret); prints the secret.
    Sign {
        #[command(flatten)]
        store: StoreArgs,
        id: i64,
    },
    /// Stop signing a webhook's deliveries.
    Unsign {
        #[command(flatten)]
        store: StoreArgs,
        id: i64,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum DeliveriesCommand {
    /// List deliveries, oldest first (`--newest`: newest first): id, event id, event, handler,
    /// status, attempts, next attempt, last error.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only deliveries in this state.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(deliveries::STATUSES))]
        status: Option<String>,
        /// Only this handler (`event_handler_id`).
        #[arg(long)]
        handler: Option<i64>,
        /// Only this outgoing webhook, while it exists (its handlers go with it: list a
        /// deleted one's deliveries with --handler).
        #[arg(long)]
        webhook: Option<i64>,
        /// Only deliveries created at or after this Unix time.
        #[arg(long)]
        since: Option<i64>,
        /// Only deliveries with a larger id (to page on from the last one listed).
        #[arg(long, conflicts_with = "newest")]
        after: Option<i64>,
        /// The newest first: what happened last, on a portal with a long history.
        #[arg(long)]
        newest: bool,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

/// `b24lite redeliver`: one delivery, or every failed delivery of a handler since a time.
#[derive(Debug, clap::Args)]
pub struct RedeliverArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The delivery to send again.
    #[arg(long, conflicts_with_all = ["handler", "since"], required_unless_present = "handler")]
    delivery: Option<i64>,
    /// Send again every failed delivery of this handler.
    #[arg(long)]
    handler: Option<i64>,
    /// With --handler: only deliveries created at or after this Unix time.
    #[arg(long, default_value_t = 0)]
    since: i64,
}

fn parse_policy(text: &str) -> Result<Policy, String> {
    Policy::parse(text).ok_or_else(|| format!("'{text}': expected bitrix or retry"))
}

pub async fn outgoing(command: OutgoingCommand) -> anyhow::Result<ExitCode> {
    match command {
        OutgoingCommand::Add {
            store,
            url,
            events,
            policy,
            sign,
        } => {
            let hook = add(&store, &url, &events, policy, sign).await?;
            match &hook.signing_secret {
                Some(secret) => println!("{}\t{}\t{secret}", hook.id, hook.application_token),
                None => println!("{}\t{}", hook.id, hook.application_token),
            }
        }
        OutgoingCommand::List { store } => {
            let store = open_store(&store).await?;
            let mut conn = store.pool().acquire().await?;
            for hook in outgoing::list(&mut conn).await? {
                println!("{}", list_line(&hook));
            }
        }
        OutgoingCommand::Delete { store, id } => {
            let store = open_store(&store).await?;
            let mut tx = store.begin_write().await?;
            let found = outgoing::delete(&mut tx, id).await?;
            tx.commit().await?;
            return Ok(found_or_missing(found, id));
        }
        OutgoingCommand::Enable { store, id } => return set_enabled(&store, id, true).await,
        OutgoingCommand::Disable { store, id } => return set_enabled(&store, id, false).await,
        OutgoingCommand::Sign { store, id } => {
            return set_signing(&store, id, Signing::Rotate).await;
        }
        OutgoingCommand::Unsign { store, id } => {
            return set_signing(&store, id, Signing::Off).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates an outgoing webhook for the given events (checked and upper-cased), with its
/// deliveries signed when `signed`.
pub async fn add(
    store: &StoreArgs,
    url: &str,
    events: &[String],
    policy: Policy,
    signed: bool,
) -> anyhow::Result<OutgoingWebhook> {
    check_url(url).map_err(anyhow::Error::msg)?;
    let events = b24lite_core::events::normalize_list(events).map_err(|name| {
        anyhow::anyhow!("unknown event '{name}' (application events are not for webhooks)")
    })?;
    let store = open_store(store).await?;
    let mut tx = store.begin_write().await?;
    let now = Clock::default().now();
    let hook = outgoing::create(&mut tx, url, &events, policy, signed, now).await?;
    tx.commit().await?;
    Ok(hook)
}

fn list_line(hook: &OutgoingWebhook) -> String {
    let state = if hook.enabled { "enabled" } else { "disabled" };
    let handlers: Vec<String> = hook
        .handlers
        .iter()
        .map(|h| format!("{}={}", h.event, h.id))
        .collect();
    format!(
        "{}\t{state}\t{}\t{}\t{}\t{}",
        hook.id,
        hook.policy.as_str(),
        hook.url,
        hook.application_token,
        handlers.join(",")
    )
}

async fn set_enabled(store: &StoreArgs, id: i64, enabled: bool) -> anyhow::Result<ExitCode> {
    let store = open_store(store).await?;
    let mut conn = store.pool().acquire().await?;
    let found = outgoing::set_enabled(&mut conn, id, enabled).await?;
    Ok(found_or_missing(found, id))
}

/// `outgoing sign` (prints the new secret) and `outgoing unsign`.
async fn set_signing(store: &StoreArgs, id: i64, signing: Signing) -> anyhow::Result<ExitCode> {
    let store = open_store(store).await?;
    let mut tx = store.begin_write().await?;
    let Some(secret) = outgoing::set_signing(&mut tx, id, signing).await? else {
        return Ok(found_or_missing(false, id));
    };
    tx.commit().await?;
    if let Some(secret) = secret {
        println!("{secret}");
    }
    Ok(ExitCode::SUCCESS)
}

fn found_or_missing(found: bool, id: i64) -> ExitCode {
    if found {
        ExitCode::SUCCESS
    } else {
        eprintln!("b24lite: no outgoing webhook with id {id}");
        ExitCode::from(1)
    }
}

pub async fn deliveries(command: DeliveriesCommand) -> anyhow::Result<ExitCode> {
    let DeliveriesCommand::List {
        store,
        status,
        handler,
        webhook,
        since,
        after,
        newest,
        limit,
    } = command;
    let store = open_store(&store).await?;
    let mut conn = store.pool().acquire().await?;
    let filter = DeliveryFilter {
        status,
        handler_id: handler,
        webhook_id: webhook,
        since,
        after_id: after,
        limit,
        ..DeliveryFilter::default()
    };
    let listed = if newest {
        deliveries::list_newest(&mut conn, &filter, None).await?
    } else {
        deliveries::list(&mut conn, &filter).await?
    };
    for d in listed {
        let next = d
            .next_attempt_at
            .map_or("-".to_string(), |at| at.to_string());
        let error = d.last_error.as_deref().unwrap_or("-");
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{next}\t{error}",
            d.id, d.event_id, d.event, d.handler_id, d.status, d.attempts
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn redeliver(args: RedeliverArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.store).await?;
    let mut conn = store.pool().acquire().await?;
    let now = Clock::default().now();
    let count = match (args.delivery, args.handler) {
        (Some(id), _) => {
            let refusal = match deliveries::redeliver(&mut conn, id, now).await? {
                Redelivery::Queued => None,
                Redelivery::Missing => Some("no such delivery"),
                Redelivery::HandlerGone => Some("its handler was deleted"),
                Redelivery::InFlight => Some("it is being sent right now; try again"),
            };
            if let Some(why) = refusal {
                eprintln!("b24lite: delivery {id} not queued: {why}");
                return Ok(ExitCode::from(1));
            }
            1
        }
        (None, Some(handler)) => {
            deliveries::redeliver_failed(&mut conn, handler, args.since, now).await?
        }
        (None, None) => 0,
    };
    println!("{count}");
    Ok(ExitCode::SUCCESS)
}
