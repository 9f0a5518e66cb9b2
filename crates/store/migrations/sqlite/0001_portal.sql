-- The portal itself, its users and their incoming webhooks.
CREATE TABLE portal (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    domain      TEXT    NOT NULL,
    base_url    TEXT    NOT NULL,
    member_id   TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL DEFAULT '',
    last_name       TEXT    NOT NULL DEFAULT '',
    email           TEXT    NOT NULL DEFAULT '',
    gender          TEXT    NOT NULL DEFAULT '',
    time_zone       TEXT    NOT NULL DEFAULT '',
    is_admin        INTEGER NOT NULL DEFAULT 0,
    active          INTEGER NOT NULL DEFAULT 1,
    created_at      INTEGER NOT NULL
);

CREATE TABLE incoming_webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    token       TEXT    NOT NULL UNIQUE,
    scopes      TEXT    NOT NULL,
    title       TEXT    NOT NULL DEFAULT '',
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX incoming_webhooks_by_user ON incoming_webhooks (user_id);
