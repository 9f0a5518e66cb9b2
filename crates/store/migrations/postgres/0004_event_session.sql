-- Loop protection (reference fact 70): the event session TTL of the request that recorded an
-- event, and of the access tokens minted for its deliveries. A request made with such a token
-- records its events one step lower; at 0 it dispatches none.
ALTER TABLE events ADD COLUMN event_ttl BIGINT  NOT NULL DEFAULT 7;

-- Access tokens that came from an event delivery, with the TTL they carry. Kept apart from
-- oauth_tokens (created later, in 5001) so this area's migration stands alone.
CREATE TABLE event_tokens (
    access_token    TEXT    PRIMARY KEY,
    event_ttl       BIGINT  NOT NULL
);
