-- Signed deliveries (Standard Webhooks): an outgoing webhook's signing secret, `whsec_` and the
-- base64 of 32 random bytes. NULL means unsigned, the default, which sends exactly what
-- Bitrix24 sends.
ALTER TABLE outgoing_webhooks ADD COLUMN signing_secret TEXT;
