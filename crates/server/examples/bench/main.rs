//! The parts of `bench/run` that wrk cannot measure: event delivery to a local handler (events
//! fired and deliveries received per second, end-to-end latency at a fixed rate) and the
//! deletion of a field that many contacts hold a value for.
//!
//! It talks to a running b24lite like any client (webhook URL, admin API) and prints table rows;
//! `bench/run` starts the server and passes the URLs. A failed call ends it with an error, so
//! the smoke run in `scripts/test` catches a benchmark that no longer works.

mod events;
mod handler;
mod million;
mod stats;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(about = "b24lite benchmark helper (run by bench/run)")]
enum Command {
    /// Event delivery throughput and latency to a local handler.
    Events(events::Args),
    /// Time `crm.contact.userfield.delete` on a field holding many values.
    Million(million::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    b24lite::http::tls::install_crypto_provider();
    match Command::parse() {
        Command::Events(args) => events::run(args).await,
        Command::Million(args) => million::run(args).await,
    }
}

/// A JSON client for the server under test.
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?)
}

/// Calls a REST method through the webhook with a JSON body; fails on anything but a result.
async fn call(
    client: &reqwest::Client,
    webhook: &str,
    method: &str,
    params: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let response = client
        .post(format!("{webhook}{method}"))
        .json(&params)
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    match body.get("result") {
        Some(result) if status.is_success() => Ok(result.clone()),
        _ => anyhow::bail!("{method} answered {status}: {body}"),
    }
}
