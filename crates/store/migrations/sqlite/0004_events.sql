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
CREATE INDEX events_created ON events (created_at);

-- Outgoing webhooks: a handler URL and a secret, configured by the portal's administrator.
CREATE TABLE outgoing_webhooks (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    url                 TEXT    NOT NULL,
    application_token   TEXT    NOT NULL,
    enabled             INTEGER NOT NULL DEFAULT 1,
    policy              TEXT    NOT NULL DEFAULT 'bitrix',
    created_at          INTEGER NOT NULL
);

-- One row per (subscriber, event); its id is the `event_handler_id` of deliveries. A row belongs
-- to an outgoing webhook or (later) to an application's `event.bind`.
CREATE TABLE event_handlers (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    event               TEXT    NOT NULL,
    handler             TEXT    NOT NULL,
    outgoing_webhook_id INTEGER REFERENCES outgoing_webhooks (id),
    app_id              INTEGER,
    auth_type           INTEGER NOT NULL DEFAULT 0,
    event_type          TEXT    NOT NULL DEFAULT 'online',
    connector           TEXT    NOT NULL DEFAULT '',
    options             TEXT    NOT NULL DEFAULT '{}',
    created_at          INTEGER NOT NULL
);
CREATE INDEX event_handlers_event ON event_handlers (event);

-- One delivery per (event, handler); the queue the delivery workers share.
CREATE TABLE deliveries (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id            INTEGER NOT NULL REFERENCES events (id),
    handler_id          INTEGER NOT NULL,
    request_id          TEXT    NOT NULL,
    payload_hash        TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER,
    lease_owner         TEXT,
    lease_expires_at    INTEGER,
    last_error          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE UNIQUE INDEX deliveries_dedup ON deliveries (request_id, handler_id, payload_hash);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_handler ON deliveries (handler_id, status);

-- Every HTTP attempt of a delivery.
CREATE TABLE attempts (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id         INTEGER NOT NULL REFERENCES deliveries (id),
    started_at          INTEGER NOT NULL,
    http_status         INTEGER,
    latency_ms          INTEGER NOT NULL,
    error_class         TEXT,
    response_body       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);
