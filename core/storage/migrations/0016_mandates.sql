-- Issue 20: mandates, a customer's consent to merchant-initiated charges of a
-- saved card (core/domain/mandates.py, core/storage/mandates.py).
-- A mandate is never deleted: payments made under it name it. Revoking sets
-- revoke_time; expiry is read off expire_time, never written.

CREATE TABLE mandates (
    merchant_id             text        NOT NULL,
    id                      text        NOT NULL,
    customer_id             text        NOT NULL,
    card_token              text        NOT NULL,
    usage                   text        NOT NULL CHECK (usage IN ('single_use', 'multi_use')),
    max_amount              bigint      NOT NULL CHECK (max_amount > 0),
    currency                text        NOT NULL,
    -- NULL: unscheduled; else at most one charge per interval_count intervals.
    interval                text        CHECK (interval IN ('day', 'week', 'month', 'year')),
    interval_count          integer     NOT NULL DEFAULT 1 CHECK (interval_count > 0),
    expire_time             timestamptz,
    -- The channel's reference of the verification: the agreement id it is charged under.
    agreement_id            text        NOT NULL,
    channel                 text        NOT NULL,
    verification_payment_id text        NOT NULL,
    revoke_time             timestamptz,
    create_time             timestamptz NOT NULL,
    update_time             timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    FOREIGN KEY (merchant_id, customer_id) REFERENCES customers (merchant_id, id),
    FOREIGN KEY (merchant_id, card_token) REFERENCES card_tokens (merchant_id, id),
    FOREIGN KEY (merchant_id, verification_payment_id) REFERENCES payments (merchant_id, id)
);

-- ListPaymentMethods: a customer's card tokens in order, each with its mandates.
CREATE INDEX mandates_by_customer ON mandates (merchant_id, customer_id, card_token, create_time);

-- The payments made under a mandate (single use, frequency). No foreign key to
-- payments: the payment's row is written at the end of the same transaction
-- (core/storage/session.py defers it), after this one.
CREATE TABLE mandate_charges (
    merchant_id text        NOT NULL,
    payment_id  text        NOT NULL,
    mandate_id  text        NOT NULL,
    create_time timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, payment_id),
    FOREIGN KEY (merchant_id, mandate_id) REFERENCES mandates (merchant_id, id)
);

CREATE INDEX mandate_charges_by_mandate ON mandate_charges (merchant_id, mandate_id, create_time);
