-- The operating-time budget (`rest-protocol.md` §10.3), shared by instances: the execution
-- seconds of each (credential, method) per minute, a bucket living 10 minutes from its first
-- call (`first_call_at`, Unix seconds with a fraction). Expired rows are deleted as calls come.
CREATE TABLE operating_buckets (
    bucket_key      TEXT             NOT NULL,
    method          TEXT             NOT NULL,
    minute          BIGINT           NOT NULL,
    first_call_at   DOUBLE PRECISION NOT NULL,
    seconds         DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (bucket_key, method, minute)
);
