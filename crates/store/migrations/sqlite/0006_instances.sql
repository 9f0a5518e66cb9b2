-- Coordination of several instances sharing this database. On SQLite one server process owns
-- the file: its rate limiter counts in memory and it wakes its own workers in-process. The table
-- is here all the same so that both stores share one schema and `rate::admit` one statement.
CREATE TABLE rate_buckets (
    bucket_key  TEXT    PRIMARY KEY,
    level       REAL    NOT NULL,
    updated_at  REAL    NOT NULL,
    admitted    INTEGER NOT NULL
);
