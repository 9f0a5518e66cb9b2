-- The operating-time budget, shared by instances on PostgreSQL. On SQLite the server keeps these
-- buckets in memory (one process owns the file); the table keeps the schemas and statements alike.
CREATE TABLE operating_buckets (
    bucket_key      TEXT    NOT NULL,
    method          TEXT    NOT NULL,
    minute          INTEGER NOT NULL,
    first_call_at   REAL    NOT NULL,
    seconds         REAL    NOT NULL,
    PRIMARY KEY (bucket_key, method, minute)
);
