-- The risk engine's durable state (riskengine/, core/risk/): block/allow lists
-- and the review queue. Velocity counters live in Redis (core/risk/velocity.py).

-- Block and allow list entries, per merchant. `kind` is what `value` names:
-- card_fingerprint, email (lower case), ip, device, bin (a prefix) or customer.
CREATE TABLE risk_list_entries (
    merchant_id  text        NOT NULL,
    id           text        NOT NULL,
    list         text        NOT NULL CHECK (list IN ('block', 'allow')),
    kind         text        NOT NULL,
    value        text        NOT NULL,
    reason       text        NOT NULL DEFAULT '',
    create_time  timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    UNIQUE (merchant_id, list, kind, value)
);

-- Payments held by a REVIEW decision. `card_token` is the vault token the
-- payment is dispatched with once approved (a card submitted in full is
-- sealed into the vault when the payment is held: nothing waits in clear).
CREATE TABLE risk_reviews (
    merchant_id  text        NOT NULL,
    payment_id   text        NOT NULL,
    card_token   text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    note         text        NOT NULL DEFAULT '',
    create_time  timestamptz NOT NULL,
    decide_time  timestamptz,
    PRIMARY KEY (merchant_id, payment_id),
    FOREIGN KEY (merchant_id, payment_id) REFERENCES payments (merchant_id, id)
);

-- ListReviews: the pending queue, oldest first.
CREATE INDEX risk_reviews_pending ON risk_reviews (merchant_id, payment_id) WHERE status = 'pending';
