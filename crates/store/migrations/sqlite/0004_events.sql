-- The outbox: every event, written in the transaction of the change that caused it.
CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL,
    data            TEXT    NOT NULL,
    user_id         INTEGER,
    request_id      TEXT    NOT NULL,
    auth_connector  TEXT,
    app_id          INTEGER,
    created_at      INTEGER NOT NULL
);
