-- The audit trail of admin and superadmin actions (core/domain/audit.py).
-- Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE, so not even a
-- bug in paycore (or a careless operator on paycore's role) can rewrite it.

CREATE TABLE audit_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,
    actor_role     text        NOT NULL,
    actor_key_id   text,
    actor_merchant text,
    action         text        NOT NULL,
    resource_type  text        NOT NULL,
    resource_id    text        NOT NULL,
    merchant_id    text,
    before         jsonb,
    after          jsonb,
    details        jsonb       NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_events_by_merchant ON audit_events (merchant_id, id);
CREATE INDEX audit_events_by_resource ON audit_events (resource_type, resource_id, id);

CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
