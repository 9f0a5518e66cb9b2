-- Coordination of several instances sharing this database.

-- The request-rate leaky bucket of each credential (`rest-protocol.md` §10.2), shared so that
-- instances behind one load balancer count one budget. `level` drains by the configured rate
-- from `updated_at` (Unix seconds with a fraction); `admitted` is the verdict of the last call,
-- written by the same statement that moves the level so that it can be read back with RETURNING.
CREATE TABLE rate_buckets (
    bucket_key  TEXT             PRIMARY KEY,
    level       DOUBLE PRECISION NOT NULL,
    updated_at  DOUBLE PRECISION NOT NULL,
    admitted    BIGINT           NOT NULL
);

-- Wake-ups: every instance LISTENs on `b24lite_outbox`; PostgreSQL delivers a NOTIFY when the
-- transaction that issued it commits (and drops it on rollback), and folds repeated ones of a
-- transaction into one. Triggers rather than calls in the code, so that every path that makes a
-- delivery due (a REST call, the CLI, a redelivery) wakes the other instances.
CREATE FUNCTION b24lite_notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('b24lite_outbox', '');
    RETURN NULL;
END
$$;

CREATE FUNCTION b24lite_notify_new_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted WHERE status = 'pending') THEN
        PERFORM pg_notify('b24lite_outbox', '');
    END IF;
    RETURN NULL;
END
$$;

-- New pending deliveries: the fan-out of a recorded event (once per statement, not per row).
CREATE TRIGGER deliveries_notify_insert AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION b24lite_notify_new_deliveries();

-- A delivery sent again (redeliver): back to pending, or its attempts reset. Outcomes written by
-- the workers (a retry scheduled, a row released) never match, so they wake nobody.
CREATE TRIGGER deliveries_notify_redeliver AFTER UPDATE OF status, attempts ON deliveries
    FOR EACH ROW
    WHEN (NEW.status = 'pending' AND (OLD.status <> 'pending' OR NEW.attempts < OLD.attempts))
    EXECUTE FUNCTION b24lite_notify_outbox();
