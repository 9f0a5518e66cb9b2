-- Application lifecycle events, ONOFFLINEEVENT notices and application field types.

-- The portal's LANGUAGE_ID, written by the server at start-up, so that the CLI's lifecycle events
-- (ONAPPINSTALL, ONAPPUNINSTALL) carry the same language as the server's.
ALTER TABLE portal ADD COLUMN language TEXT NOT NULL DEFAULT 'en';

-- When each ONOFFLINEEVENT handler was last notified (or is due to be), for `minTimeout`.
CREATE TABLE offline_notices (
    handler_id  BIGINT PRIMARY KEY,
    due_at      BIGINT NOT NULL
);

-- User field types registered by applications (`userfieldtype.add`): `rest_{app id}_{code}`.
CREATE TABLE app_field_types (
    user_type_id    TEXT    PRIMARY KEY,
    app_id          BIGINT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    code            TEXT    NOT NULL,
    handler         TEXT    NOT NULL,
    title           TEXT    NOT NULL DEFAULT '',
    description     TEXT    NOT NULL DEFAULT '',
    options         TEXT    NOT NULL DEFAULT '{}',
    created_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX app_field_types_handler ON app_field_types (app_id, handler);
