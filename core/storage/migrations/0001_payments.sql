-- Payments, refunds, channel attempts and idempotency records.
-- Every table is keyed by merchant first: every query is scoped by merchant,
-- and the key order makes that scoping an index prefix.
-- Money: BIGINT minor units with a currency column; CHECKs repeat the domain's
-- invariants so that no code path can store an over-refund.

CREATE TABLE payments (
    merchant_id          text        NOT NULL,
    id                   text        NOT NULL,
    state                text        NOT NULL,
    currency             text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount               bigint      NOT NULL CHECK (amount > 0),
    amount_captured      bigint      NOT NULL DEFAULT 0,
    amount_refunded      bigint      NOT NULL DEFAULT 0,
    capture_method       text        NOT NULL,
    confirmation_method  text        NOT NULL,
    card                 jsonb,
    customer_id          text        NOT NULL DEFAULT '',
    description          text        NOT NULL DEFAULT '',
    metadata             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    risk                 jsonb,
    failure              jsonb,
    channel              text        NOT NULL DEFAULT '',
    channel_reference    text        NOT NULL DEFAULT '',
    operation_in_flight  text        NOT NULL DEFAULT '',
    create_time          timestamptz NOT NULL,
    update_time          timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    CONSTRAINT payments_amounts_ordered
        CHECK (0 <= amount_refunded AND amount_refunded <= amount_captured AND amount_captured <= amount)
);

-- ListPayments: newest first, keyset pagination on (create_time, id).
CREATE INDEX payments_by_time ON payments (merchant_id, create_time DESC, id DESC);
CREATE INDEX payments_by_customer ON payments (merchant_id, customer_id, create_time DESC, id DESC)
    WHERE customer_id <> '';

CREATE TABLE refunds (
    merchant_id        text        NOT NULL,
    id                 text        NOT NULL,
    payment_id         text        NOT NULL,
    amount             bigint      NOT NULL CHECK (amount > 0),
    currency           text        NOT NULL,
    state              text        NOT NULL,
    reason             text        NOT NULL DEFAULT '',
    channel_reference  text        NOT NULL DEFAULT '',
    create_time        timestamptz NOT NULL,
    update_time        timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    FOREIGN KEY (merchant_id, payment_id) REFERENCES payments (merchant_id, id)
);
CREATE INDEX refunds_by_payment ON refunds (merchant_id, payment_id, create_time);

-- One row per call to a channel, written BEFORE the call: after a crash, a row
-- still 'started' says a channel may have acted and must be asked.
CREATE TABLE channel_attempts (
    merchant_id        text        NOT NULL,
    id                 text        NOT NULL,
    payment_id         text        NOT NULL,
    refund_id          text        NOT NULL DEFAULT '',
    operation          text        NOT NULL,
    channel            text        NOT NULL,
    amount             bigint      NOT NULL,
    currency           text        NOT NULL,
    outcome            text        NOT NULL DEFAULT 'started',
    channel_reference  text        NOT NULL DEFAULT '',
    failure_code       text        NOT NULL DEFAULT '',
    create_time        timestamptz NOT NULL,
    complete_time      timestamptz,
    PRIMARY KEY (merchant_id, id),
    FOREIGN KEY (merchant_id, payment_id) REFERENCES payments (merchant_id, id)
);
CREATE INDEX channel_attempts_by_payment ON channel_attempts (merchant_id, payment_id, create_time);
CREATE INDEX channel_attempts_unresolved ON channel_attempts (create_time) WHERE outcome IN ('started', 'unknown');

-- AIP-155 request ids. The stored reply is committed in the same transaction
-- as the change it reports, so a replay can never disagree with the data.
CREATE TABLE idempotency_keys (
    merchant_id    text        NOT NULL,
    operation      text        NOT NULL,
    request_id     text        NOT NULL,
    fingerprint    bytea       NOT NULL,
    state          text        NOT NULL CHECK (state IN ('in_progress', 'completed')),
    reply_ok       boolean,
    reply          bytea,
    resource_id    text        NOT NULL DEFAULT '',
    create_time    timestamptz NOT NULL,
    lease_until    timestamptz NOT NULL,
    complete_time  timestamptz,
    PRIMARY KEY (merchant_id, operation, request_id)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (create_time);
