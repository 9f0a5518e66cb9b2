//! Event delivery: subscribe N outgoing webhooks to `ONCRMCONTACTUSERFIELDUPDATE` pointing at the
//! in-process handler, fire updates of a pool of fields through the REST API, and measure.
//!
//! - Throughput: updates go out as `batch` calls of up to 50 (so the REST side is not what
//!   limits the engine), from several tasks at once; events/s is what the API accepted,
//!   deliveries/s is every delivery received over the time from the first call to the last
//!   receipt.
//! - Latency: single update calls at a fixed rate; each delivery's receipt time minus the time
//!   its REST call answered. The k-th receipt of a field at a subscriber belongs to the k-th
//!   update of that field (a subscriber receives in order, and a field's updates are far apart).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::handler::{self, Receipts};
use crate::stats::{ms, percentile};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The administrator's webhook URL, ending in `/`.
    #[arg(long)]
    webhook: String,
    /// The server's base URL (for the admin API).
    #[arg(long)]
    base: String,
    /// The admin key (`DATA/admin.key`).
    #[arg(long)]
    admin_key: String,
    /// Events fired per throughput run.
    #[arg(long, default_value_t = 5000)]
    events: usize,
    /// Subscriber counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,10")]
    subscribers: Vec<usize>,
    /// Events per second of the latency run.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Seconds the latency run lasts.
    #[arg(long, default_value_t = 5.0)]
    latency_seconds: f64,
    /// REST calls in flight during the throughput run.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Fields the updates cycle through.
    #[arg(long, default_value_t = 100)]
    fields: usize,
}

/// What a run needs to reach the server and its handler.
struct Bench {
    args: Args,
    client: reqwest::Client,
    receipts: Arc<Receipts>,
    handler_url: String,
    /// `(id, FIELD_NAME)` of the pool of fields.
    fields: Vec<(i64, String)>,
    next_subscriber: AtomicUsize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let receipts = Arc::new(Receipts::default());
    let address = handler::start(receipts.clone()).await?;
    let client = crate::client()?;
    let fields = create_fields(&client, &args.webhook, args.fields).await?;
    let bench = Bench {
        client,
        receipts,
        handler_url: format!("http://{address}/h"),
        fields,
        next_subscriber: AtomicUsize::new(1),
        args,
    };

    for &n in &bench.args.subscribers {
        let hooks = bench.subscribe(n).await?;
        throughput(&bench, n).await?;
        latency(&bench, n).await?;
        bench.unsubscribe(&hooks).await?;
    }
    delete_fields(&bench).await
}

impl Bench {
    /// Adds `n` outgoing webhooks, each to its own handler path; returns their ids.
    async fn subscribe(&self, n: usize) -> anyhow::Result<Vec<i64>> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let subscriber = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
            let body = json!({
                "url": format!("{}/{subscriber}", self.handler_url),
                "events": ["ONCRMCONTACTUSERFIELDUPDATE"],
            });
            let answer = self.admin(reqwest::Method::POST, "", Some(body)).await?;
            ids.push(answer["id"].as_i64().context("no id in the answer")?);
        }
        Ok(ids)
    }

    async fn unsubscribe(&self, ids: &[i64]) -> anyhow::Result<()> {
        for id in ids {
            self.admin(reqwest::Method::DELETE, &format!("/{id}"), None)
                .await?;
        }
        Ok(())
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/admin/outgoing-webhooks{path}", self.args.base);
        let mut request = self
            .client
            .request(method, url)
            .bearer_auth(&self.args.admin_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("admin API answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The REST query of the `k`-th update: the field `k` lands on and its new SORT.
    fn update_query(&self, k: usize) -> String {
        let (id, _) = &self.fields[k % self.fields.len()];
        format!(
            "crm.contact.userfield.update?id={id}&fields[SORT]={}",
            100 + k
        )
    }
}

/// A pool of string fields named for this run, created through `batch`.
async fn create_fields(
    client: &reqwest::Client,
    webhook: &str,
    n: usize,
) -> anyhow::Result<Vec<(i64, String)>> {
    let run = std::process::id();
    let names: Vec<String> = (0..n).map(|i| format!("UF_CRM_BENCH_{run}_{i}")).collect();
    let mut fields = Vec::new();
    for chunk in names.chunks(50) {
        let cmd: serde_json::Map<String, Value> = chunk
            .iter()
            .map(|name| {
                let query = format!(
                    "crm.contact.userfield.add?fields[FIELD_NAME]={name}&fields[USER_TYPE_ID]=string"
                );
                (name.clone(), Value::String(query))
            })
            .collect();
        let result = crate::call(client, webhook, "batch", json!({"cmd": cmd, "halt": 1})).await?;
        for name in chunk {
            let id = result["result"][name]
                .as_i64()
                .with_context(|| format!("field {name} not created: {result}"))?;
            fields.push((id, name.clone()));
        }
    }
    Ok(fields)
}

async fn delete_fields(bench: &Bench) -> anyhow::Result<()> {
    for chunk in bench.fields.chunks(50) {
        let cmd: serde_json::Map<String, Value> = chunk
            .iter()
            .map(|(id, name)| {
                let query = format!("crm.contact.userfield.delete?id={id}");
                (name.clone(), Value::String(query))
            })
            .collect();
        let webhook = &bench.args.webhook;
        crate::call(
            &bench.client,
            webhook,
            "batch",
            json!({"cmd": cmd, "halt": 1}),
        )
        .await?;
    }
    Ok(())
}

/// Fires `--events` updates as fast as the API takes them and waits for every delivery.
async fn throughput(bench: &Bench, subscribers: usize) -> anyhow::Result<()> {
    let batch_len = bench.fields.len().min(50);
    let n_batches = bench.args.events.div_ceil(batch_len);
    let next_batch = Arc::new(AtomicUsize::new(0));
    bench.receipts.take();

    let commands: Arc<Vec<Vec<String>>> = Arc::new(
        (0..n_batches)
            .map(|b| {
                (0..batch_len)
                    .map(|i| bench.update_query(b * batch_len + i))
                    .collect()
            })
            .collect(),
    );

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..bench.args.concurrency {
        let (next_batch, client) = (next_batch.clone(), bench.client.clone());
        let (commands, webhook) = (commands.clone(), bench.args.webhook.clone());
        tasks.spawn(async move {
            loop {
                let b = next_batch.fetch_add(1, Ordering::Relaxed);
                let Some(queries) = commands.get(b) else {
                    return anyhow::Ok(());
                };
                let cmd: Vec<Value> = queries.iter().cloned().map(Value::String).collect();
                let result = crate::call(&client, &webhook, "batch", json!({"cmd": cmd})).await?;
                if result["result_error"]
                    .as_array()
                    .is_none_or(|e| !e.is_empty())
                {
                    bail!("batch of updates failed: {result}");
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let fired = started.elapsed();

    let events = n_batches * batch_len;
    let expected = events * subscribers;
    if !bench
        .receipts
        .wait_for(expected, Duration::from_secs(10))
        .await
    {
        bail!(
            "{} of {expected} deliveries arrived ({subscribers} subscribers)",
            bench.receipts.count()
        );
    }
    let receipts = bench.receipts.take();
    let last = receipts.iter().map(|r| r.at).max().unwrap_or(started);
    let took = last.duration_since(started);
    println!(
        "{:<34} {:>12.0} {:>10} {:>10}   {} events, {expected} deliveries in {:.2}s",
        format!("delivery, {subscribers} subscriber(s)"),
        expected as f64 / took.as_secs_f64(),
        "-",
        "-",
        events,
        took.as_secs_f64()
    );
    println!(
        "{:<34} {:>12.0} {:>10} {:>10}   batch calls of {batch_len}, {} in flight",
        format!("  events fired ({subscribers} sub.)"),
        events as f64 / fired.as_secs_f64(),
        "-",
        "-",
        bench.args.concurrency
    );
    Ok(())
}

/// Fires single update calls at `--rate` for `--latency-seconds`; prints receipt minus response.
async fn latency(bench: &Bench, subscribers: usize) -> anyhow::Result<()> {
    let n_events = (bench.args.rate * bench.args.latency_seconds)
        .round()
        .max(1.0) as usize;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / bench.args.rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    bench.receipts.take();

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..n_events {
        ticker.tick().await;
        let url = format!("{}{}", bench.args.webhook, bench.update_query(k));
        let client = bench.client.clone();
        tasks.spawn(async move {
            let response = client.get(url).send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            let answered = Instant::now();
            if !status.is_success() {
                bail!(
                    "update answered {status}: {}",
                    String::from_utf8_lossy(&body)
                );
            }
            anyhow::Ok((k, answered))
        });
    }
    let mut answered = vec![started; n_events];
    while let Some(done) = tasks.join_next().await {
        let (k, at) = done??;
        answered[k] = at;
    }
    let sent_for = started.elapsed();

    let expected = n_events * subscribers;
    if !bench
        .receipts
        .wait_for(expected, Duration::from_secs(10))
        .await
    {
        bail!(
            "{} of {expected} deliveries arrived at {} events/s",
            bench.receipts.count(),
            bench.args.rate
        );
    }
    let mut samples = latencies(bench, &answered, bench.receipts.take());
    samples.sort_unstable();
    println!(
        "{:<34} {:>12.0} {:>10} {:>10}   response -> handler; {} deliveries, max {}",
        format!("latency @{}/s, {subscribers} sub.", bench.args.rate),
        n_events as f64 / sent_for.as_secs_f64(),
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        samples.len(),
        ms(samples.last().copied().unwrap_or_default()),
    );
    Ok(())
}

/// Pairs each receipt with the answer of the update that caused it (see the module comment).
fn latencies(
    bench: &Bench,
    answered: &[Instant],
    receipts: Vec<handler::Receipt>,
) -> Vec<Duration> {
    let n_fields = bench.fields.len();
    let index: HashMap<&str, usize> = bench
        .fields
        .iter()
        .enumerate()
        .map(|(i, (_, name))| (name.as_str(), i))
        .collect();
    let mut seen: HashMap<(usize, usize), usize> = HashMap::new();
    let mut samples = Vec::with_capacity(receipts.len());
    for receipt in receipts {
        let Some(&field) = index.get(receipt.field_name.as_str()) else {
            continue;
        };
        let nth = seen.entry((receipt.subscriber, field)).or_default();
        let k = field + *nth * n_fields;
        *nth += 1;
        if let Some(at) = answered.get(k) {
            // A delivery may beat the answer to the client; that counts as no delay.
            samples.push(receipt.at.saturating_duration_since(*at));
        }
    }
    samples
}
