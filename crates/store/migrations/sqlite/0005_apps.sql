-- Local applications, their installation on the portal, and OAuth 2.0 grants.
CREATE TABLE apps (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT    NOT NULL,
    client_id           TEXT    NOT NULL UNIQUE,
    client_secret       TEXT    NOT NULL,
    handler_url         TEXT    NOT NULL,
    scopes              TEXT    NOT NULL,
    status              TEXT    NOT NULL DEFAULT 'L',
    version             INTEGER NOT NULL DEFAULT 1,
    application_token   TEXT    NOT NULL,
    installed           INTEGER NOT NULL DEFAULT 0,
    install_finished    INTEGER NOT NULL DEFAULT 0,
    install_user_id     INTEGER,
    created_at          INTEGER NOT NULL
);

CREATE TABLE oauth_codes (
    code        TEXT    PRIMARY KEY,
    app_id      INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE oauth_tokens (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id              INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    user_id             INTEGER NOT NULL,
    access_token        TEXT    NOT NULL UNIQUE,
    refresh_token       TEXT    NOT NULL UNIQUE,
    access_expires_at   INTEGER NOT NULL,
    refresh_expires_at  INTEGER NOT NULL,
    revoked             INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL
);
CREATE INDEX oauth_tokens_by_app ON oauth_tokens (app_id);

-- One binding per (application, event, handler, user, connector), as Bitrix24 keys them.
CREATE UNIQUE INDEX event_handlers_app_binding
    ON event_handlers (app_id, event, handler, auth_type, connector)
    WHERE app_id IS NOT NULL;

-- The offline queue: one record per (application, connector, event, object) while unclaimed.
CREATE TABLE offline_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id              INTEGER NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    connector           TEXT    NOT NULL DEFAULT '',
    event_name          TEXT    NOT NULL,
    message_id          TEXT    NOT NULL,
    event_data          TEXT    NOT NULL,
    user_id             INTEGER,
    process_id          TEXT    NOT NULL DEFAULT '',
    error               INTEGER NOT NULL DEFAULT 0,
    timestamp_x         INTEGER NOT NULL,
    position            INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX offline_events_key ON offline_events (message_id, app_id, connector, process_id);
CREATE INDEX offline_events_queue ON offline_events (app_id, connector, process_id, timestamp_x);
