//! A field that many contacts hold a value for, deleted through the API: the call must not wait
//! on the values (they are purged in the background). The values are written straight into the
//! store, as the `#[ignore]`d integration test `field_delete_with_a_million_values_is_quick` does.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The administrator's webhook URL, ending in `/`.
    #[arg(long)]
    webhook: String,
    /// The server's store (`sqlite://PATH` or `postgres://...`).
    #[arg(long)]
    database_url: String,
    /// Contacts holding a value of the field.
    #[arg(long, default_value_t = 1_000_000)]
    values: u64,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let client = crate::client()?;
    let name = format!("UF_CRM_BIG_{}", std::process::id());
    let field = crate::call(
        &client,
        &args.webhook,
        "crm.contact.userfield.add",
        json!({"fields": {"FIELD_NAME": name, "USER_TYPE_ID": "string"}}),
    )
    .await?
    .as_i64()
    .context("add answered no id")?;

    let store = b24lite_store::Store::open(&args.database_url).await?;
    let filled = Instant::now();
    let fill = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {})
         INSERT INTO uf_values (field_id, contact_id, position, value)
         SELECT {field}, i, 0, 'v' FROM n",
        args.values
    );
    sqlx::query(sqlx::AssertSqlSafe(fill))
        .execute(store.pool())
        .await?;
    let fill_took = filled.elapsed();

    let started = Instant::now();
    let deleted = crate::call(
        &client,
        &args.webhook,
        "crm.contact.userfield.delete",
        json!({"id": field}),
    )
    .await?;
    let took = started.elapsed();
    if deleted != json!(true) {
        bail!("delete answered {deleted}");
    }

    // Wait for the background purge, so that it does not weigh on what is measured next.
    let purge_started = Instant::now();
    let mut conn = store.pool().acquire().await?;
    while !b24lite_store::contacts::orphaned_fields(&mut conn)
        .await?
        .is_empty()
    {
        if purge_started.elapsed() > Duration::from_secs(600) {
            bail!("the background purge did not finish in 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "{:<34} {:>12} {:>10} {:>10}   {} values (filled in {:.1}s); purge took {:.1}s",
        "field delete, REST call",
        "-",
        crate::stats::ms(took),
        "-",
        args.values,
        fill_took.as_secs_f64(),
        purge_started.elapsed().as_secs_f64()
    );
    Ok(())
}
