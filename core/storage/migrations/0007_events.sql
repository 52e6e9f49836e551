-- Merchant notifications (issue 7): the event outbox, webhook endpoints, their
-- deliveries and every delivery attempt. See core/events/ for how they are used.

-- Per-merchant event counter. Taking the next number is an UPDATE of this row,
-- so its lock is held until the event's transaction ends: two transactions of
-- one merchant cannot hold numbers at once, hence they commit in number order
-- and a rolled-back one gives its number back. A reader that has seen number
-- n has therefore seen every number below n, forever (no gap can fill later).
CREATE TABLE event_sequences (
    merchant_id  text   PRIMARY KEY,
    last_value   bigint NOT NULL
);

-- The transactional outbox: one row per state change, written in the same
-- transaction as the change. Immutable (a trigger refuses UPDATE and DELETE).
CREATE TABLE events (
    merchant_id    text        NOT NULL,
    sequence       bigint      NOT NULL,
    id             text        NOT NULL UNIQUE,
    type           text        NOT NULL,
    resource_type  text        NOT NULL,
    resource_id    text        NOT NULL,
    refund_id      text        NOT NULL DEFAULT '',
    -- The payment as the API shows it: a serialized paycore.v1.Payment.
    snapshot       bytea       NOT NULL,
    create_time    timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, sequence)
);
CREATE INDEX events_by_resource ON events (merchant_id, resource_id, sequence);

CREATE FUNCTION events_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_immutable();

CREATE TABLE webhook_endpoints (
    merchant_id          text        NOT NULL,
    id                   text        NOT NULL,
    url                  text        NOT NULL,
    description          text        NOT NULL DEFAULT '',
    -- Empty: every event type.
    event_types          text[]      NOT NULL DEFAULT '{}',
    enabled              boolean     NOT NULL DEFAULT true,
    secret               text        NOT NULL,
    -- After a rotation the previous secret keeps signing until previous_until.
    previous_secret      text        NOT NULL DEFAULT '',
    previous_until       timestamptz,
    deleted              boolean     NOT NULL DEFAULT false,
    create_time          timestamptz NOT NULL,
    update_time          timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id)
);

-- One row per (event, endpoint): created with the event (same transaction)
-- for every enabled endpoint subscribed to its type. Relay workers lease due
-- rows with FOR UPDATE SKIP LOCKED; a lease that expires (crashed worker) is
-- taken over. state: pending -> succeeded | dead (dead: redeliverable).
CREATE TABLE webhook_deliveries (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id      text        NOT NULL,
    endpoint_id      text        NOT NULL,
    event_sequence   bigint      NOT NULL,
    state            text        NOT NULL DEFAULT 'pending',
    -- Attempts ever made (numbering webhook_attempts); the retry schedule
    -- counts from round_start, which RedeliverEvent moves to attempts.
    attempts         integer     NOT NULL DEFAULT 0,
    round_start      integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    lease_token      uuid,
    lease_until      timestamptz,
    last_status_code integer     NOT NULL DEFAULT 0,
    last_error       text        NOT NULL DEFAULT '',
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    UNIQUE (merchant_id, endpoint_id, event_sequence),
    FOREIGN KEY (merchant_id, endpoint_id) REFERENCES webhook_endpoints (merchant_id, id),
    FOREIGN KEY (merchant_id, event_sequence) REFERENCES events (merchant_id, sequence)
);
-- The relay's reads: an endpoint's due deliveries, and its leased ones.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries
    (merchant_id, endpoint_id, next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (merchant_id, event_sequence);

CREATE TABLE webhook_attempts (
    delivery_id   bigint      NOT NULL REFERENCES webhook_deliveries (id),
    attempt       integer     NOT NULL,
    at            timestamptz NOT NULL,
    status_code   integer     NOT NULL DEFAULT 0,
    latency_ms    integer     NOT NULL DEFAULT 0,
    error         text        NOT NULL DEFAULT '',
    PRIMARY KEY (delivery_id, attempt)
);
