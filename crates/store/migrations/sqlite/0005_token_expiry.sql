-- Expired tokens are purged (apps::purge_expired_tokens): find them by refresh expiry, which is
-- never earlier than access expiry.
CREATE INDEX oauth_tokens_by_refresh_expiry ON oauth_tokens (refresh_expires_at);
