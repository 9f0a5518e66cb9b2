-- Change notices between instances: servers keep recently read credentials and field
-- definitions in memory (for at most a second), and every statement that changes what those
-- caches hold notifies `b24lite_changes` so that every instance drops them as soon as the change
-- commits, whichever instance or CLI command made it. The payload is empty: such changes are rare
-- and a server forgets everything it keeps on any of them.
CREATE FUNCTION b24lite_notify_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('b24lite_changes', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_notify_changes AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION b24lite_notify_changes();
CREATE TRIGGER incoming_webhooks_notify_changes AFTER INSERT OR UPDATE OR DELETE ON incoming_webhooks
    FOR EACH STATEMENT EXECUTE FUNCTION b24lite_notify_changes();
CREATE TRIGGER apps_notify_changes AFTER INSERT OR UPDATE OR DELETE ON apps
    FOR EACH STATEMENT EXECUTE FUNCTION b24lite_notify_changes();
CREATE TRIGGER uf_fields_notify_changes AFTER INSERT OR UPDATE OR DELETE ON uf_fields
    FOR EACH STATEMENT EXECUTE FUNCTION b24lite_notify_changes();
CREATE TRIGGER uf_enum_items_notify_changes AFTER INSERT OR UPDATE OR DELETE ON uf_enum_items
    FOR EACH STATEMENT EXECUTE FUNCTION b24lite_notify_changes();
CREATE TRIGGER app_field_types_notify_changes AFTER INSERT OR UPDATE OR DELETE ON app_field_types
    FOR EACH STATEMENT EXECUTE FUNCTION b24lite_notify_changes();
