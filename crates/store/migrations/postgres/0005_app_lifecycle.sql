-- Application lifecycle events and ONOFFLINEEVENT notices.

-- The portal's LANGUAGE_ID, written by the server at start-up, so that the CLI's lifecycle events
-- (ONAPPINSTALL, ONAPPUNINSTALL) carry the same language as the server's.
ALTER TABLE portal ADD COLUMN language TEXT NOT NULL DEFAULT 'en';

-- When each ONOFFLINEEVENT handler was last notified (or is due to be), for `minTimeout`.
CREATE TABLE offline_notices (
    handler_id  BIGINT PRIMARY KEY,
    due_at      BIGINT NOT NULL
);
