//! Schema migrations, embedded in the binary and applied at start-up.
//!
//! Each entry has a SQLite and a PostgreSQL script of the same version. Versions are grouped by
//! area so parallel work never collides: 1xxx portal, 3xxx user fields and contacts, 4xxx events
//! and deliveries, 5xxx applications and OAuth, 6xxx multi-instance coordination.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Dialect;

struct Script {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const SCRIPTS: &[Script] = &[
    Script {
        version: 1001,
        description: "portal",
        sqlite: include_str!("../migrations/sqlite/0001_portal.sql"),
        postgres: include_str!("../migrations/postgres/0001_portal.sql"),
    },
    Script {
        version: 1002,
        description: "file secret",
        sqlite: include_str!("../migrations/sqlite/0001_file_secret.sql"),
        postgres: include_str!("../migrations/postgres/0001_file_secret.sql"),
    },
    Script {
        version: 3001,
        description: "userfields",
        sqlite: include_str!("../migrations/sqlite/0003_userfields.sql"),
        postgres: include_str!("../migrations/postgres/0003_userfields.sql"),
    },
    Script {
        version: 4001,
        description: "events",
        sqlite: include_str!("../migrations/sqlite/0004_events.sql"),
        postgres: include_str!("../migrations/postgres/0004_events.sql"),
    },
    Script {
        version: 4002,
        description: "signing",
        sqlite: include_str!("../migrations/sqlite/0004_signing.sql"),
        postgres: include_str!("../migrations/postgres/0004_signing.sql"),
    },
    Script {
        version: 4003,
        description: "event session",
        sqlite: include_str!("../migrations/sqlite/0004_event_session.sql"),
        postgres: include_str!("../migrations/postgres/0004_event_session.sql"),
    },
    Script {
        version: 5001,
        description: "apps",
        sqlite: include_str!("../migrations/sqlite/0005_apps.sql"),
        postgres: include_str!("../migrations/postgres/0005_apps.sql"),
    },
    Script {
        version: 5002,
        description: "app lifecycle",
        sqlite: include_str!("../migrations/sqlite/0005_app_lifecycle.sql"),
        postgres: include_str!("../migrations/postgres/0005_app_lifecycle.sql"),
    },
    Script {
        version: 5003,
        description: "offline position",
        sqlite: include_str!("../migrations/sqlite/0005_offline_position.sql"),
        postgres: include_str!("../migrations/postgres/0005_offline_position.sql"),
    },
    Script {
        version: 5004,
        description: "token expiry",
        sqlite: include_str!("../migrations/sqlite/0005_token_expiry.sql"),
        postgres: include_str!("../migrations/postgres/0005_token_expiry.sql"),
    },
    Script {
        version: 6001,
        description: "instances",
        sqlite: include_str!("../migrations/sqlite/0006_instances.sql"),
        postgres: include_str!("../migrations/postgres/0006_instances.sql"),
    },
    Script {
        version: 6002,
        description: "operating",
        sqlite: include_str!("../migrations/sqlite/0006_operating.sql"),
        postgres: include_str!("../migrations/postgres/0006_operating.sql"),
    },
    Script {
        version: 6003,
        description: "changes",
        sqlite: include_str!("../migrations/sqlite/0006_changes.sql"),
        postgres: include_str!("../migrations/postgres/0006_changes.sql"),
    },
];

/// The migrator for one dialect. On PostgreSQL sqlx takes an advisory lock while it runs, so
/// instances that start together apply each script once.
pub fn migrator(dialect: Dialect) -> Migrator {
    let migrations: Vec<Migration> = SCRIPTS
        .iter()
        .map(|script| {
            let sql = match dialect {
                Dialect::Sqlite => script.sqlite,
                Dialect::Postgres => script.postgres,
            };
            Migration::new(
                script.version,
                Cow::Borrowed(script.description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.set_locking(dialect == Dialect::Postgres);
    migrator
}
