//! `b24lite listen`: a built-in local handler for checking what the portal sends.
//!
//! It binds a loopback port, registers itself on the store as an outgoing webhook for the given
//! events (all four contact-field events by default), and prints each delivery as it arrives:
//! one line of JSON, the body decoded with PHP's rules (what `$_POST` would hold). The first
//! line of output names the URL, the webhook id and its `application_token`. With `--sign` the
//! webhook's deliveries are signed (its secret is named on the first line too) and each printed
//! line gains `"signature": "valid"` or `"invalid"`, checked against the secret the webhook got at
//! start (a rotation behind its back makes later deliveries `invalid`). With `--forward URL` each
//! body is POSTed on unchanged, with its `webhook-*` headers, to a local handler, and that
//! handler's status is the answer (so a failing handler is seen as failing); without it the
//! answer is 200. On Ctrl-C or SIGTERM the webhook is deleted again, unless `--keep` is given.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use b24lite_core::params::parse_form;
use b24lite_store::outgoing::{self, Policy};

use crate::cli::open_store;
use crate::cli_outgoing;
use crate::config::StoreArgs;
use crate::dispatch::client::DeliveryClient;
use crate::dispatch::sign;

#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address of the built-in handler; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Event to subscribe to (default: the four contact-field events); repeat for several.
    #[arg(long = "event")]
    events: Vec<String>,
    /// POST every delivery on to this URL as well, and answer with its status.
    #[arg(long, value_parser = forward_url)]
    forward: Option<String>,
    /// Keep the outgoing webhook registered after exit.
    #[arg(long)]
    keep: bool,
    /// Sign the webhook's deliveries and check each one's signature.
    #[arg(long)]
    sign: bool,
}

/// What the built-in handler needs.
struct Handler {
    forward: Option<Forward>,
    /// The webhook's signing secret, with `--sign`.
    secret: Option<String>,
}

struct Forward {
    client: DeliveryClient,
    url: String,
}

pub async fn run(args: ListenArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let url = format!("http://{}/", listener.local_addr()?);
    let events = if args.events.is_empty() {
        b24lite_core::events::CATALOGUE
            .iter()
            .filter(|e| !e.app_only)
            .map(|e| e.name.to_string())
            .collect()
    } else {
        args.events.clone()
    };
    let hook = cli_outgoing::add(&args.store, &url, &events, Policy::Bitrix, args.sign).await?;
    let signed = match &hook.signing_secret {
        Some(secret) => format!(", signing secret {secret}"),
        None => String::new(),
    };
    println!(
        "listening on {url} as outgoing webhook {} (application_token {}{signed})",
        hook.id, hook.application_token
    );

    let forward = match &args.forward {
        Some(target) => Some(Forward {
            client: DeliveryClient::new(Duration::from_secs(30), false)?,
            url: target.clone(),
        }),
        None => None,
    };
    let handler = Handler {
        forward,
        secret: hook.signing_secret.clone(),
    };
    let app = Router::new()
        .fallback(any(receive))
        .with_state(Arc::new(handler));
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::serve::stop_signal())
        .await?;

    if !args.keep {
        let store = open_store(&args.store).await?;
        let mut tx = store.begin_write().await?;
        outgoing::delete(&mut tx, hook.id).await?;
        tx.commit().await?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn receive(
    State(handler): State<Arc<Handler>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut decoded = parse_form(&body).unwrap_or_default();
    if let Some(secret) = &handler.secret {
        let verdict = if is_signed_by(secret, &headers, &body) {
            "valid"
        } else {
            "invalid"
        };
        decoded.insert("signature".into(), verdict.into());
    }
    println!("{}", serde_json::Value::Object(decoded));
    let Some(forward) = handler.forward.as_ref() else {
        return StatusCode::OK;
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let passed_on: Vec<(&str, String)> = [sign::ID, sign::TIMESTAMP, sign::SIGNATURE]
        .into_iter()
        .filter_map(|name| Some((name, header(&headers, name)?.to_string())))
        .collect();
    let reply = forward
        .client
        .post_form(&forward.url, text, &passed_on)
        .await;
    match reply.status {
        Some(status) => StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        None => {
            eprintln!(
                "b24lite listen: forwarding failed: {}",
                reply.error.unwrap_or("error")
            );
            StatusCode::BAD_GATEWAY
        }
    }
}

/// Whether the delivery carries the three `webhook-*` headers and a signature of its body by
/// `secret`.
fn is_signed_by(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header(headers, sign::ID),
        header(headers, sign::TIMESTAMP),
        header(headers, sign::SIGNATURE),
    ) else {
        return false;
    };
    sign::verify(secret, id, timestamp, body, signatures)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `--forward`: checked at start, not at the first delivery.
fn forward_url(given: &str) -> Result<String, String> {
    crate::dispatch::client::check_url(given).map(|()| given.to_string())
}
