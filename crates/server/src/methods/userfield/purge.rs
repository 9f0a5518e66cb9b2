//! Background removal of the contact values of deleted fields.
//!
//! `crm.contact.userfield.delete` only removes the definition; its values are already
//! invisible (every read joins on the definition). This task then deletes them in batches of
//! [`BATCH`] rows, each batch its own short statement, so neither the API call nor other writers
//! wait on a portal with a million contacts. It purges every orphaned field it finds, so values
//! left by an interrupted purge (a restart) go with the next field delete.

use b24lite_store::{Store, contacts};

/// Rows removed per statement.
const BATCH: i64 = 5000;

/// Starts a purge of every field that has values but no definition.
pub fn spawn(store: Store) {
    tokio::spawn(async move {
        if let Err(error) = run(&store).await {
            tracing::warn!(%error, "purging values of deleted fields failed; retried on the next delete");
        }
    });
}

async fn run(store: &Store) -> Result<(), b24lite_store::StoreError> {
    let mut conn = store.pool().acquire().await?;
    for field_id in contacts::orphaned_fields(&mut conn).await? {
        while contacts::purge_field_values(&mut conn, field_id, BATCH).await? > 0 {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}
