-- Issue 20: prices, subscriptions, their invoices and the merchants' test clocks
-- (core/storage/subscriptions.py, core/storage/invoices.py; billing:
-- core/service/billing.py).

CREATE TABLE prices (
    merchant_id    text        NOT NULL,
    id             text        NOT NULL,
    product_name   text        NOT NULL,
    amount         bigint      NOT NULL CHECK (amount >= 0),
    currency       text        NOT NULL,
    interval       text        NOT NULL CHECK (interval IN ('day', 'week', 'month', 'year')),
    interval_count integer     NOT NULL CHECK (interval_count >= 1),
    trial_days     integer     NOT NULL CHECK (trial_days >= 0),
    create_time    timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id)
);

CREATE TABLE subscriptions (
    merchant_id          text        NOT NULL,
    id                   text        NOT NULL,
    customer_id          text        NOT NULL,
    price_id             text        NOT NULL,
    quantity             integer     NOT NULL CHECK (quantity >= 1),
    -- A card token of the merchant; NULL: the customer's default at charge time.
    payment_method       text,
    status               text        NOT NULL,
    anchor               timestamptz NOT NULL,
    periods_billed       integer     NOT NULL,
    current_period_start timestamptz NOT NULL,
    current_period_end   timestamptz NOT NULL,
    -- When billing next acts (renewal or retry); NULL: nothing to do.
    next_billing_at      timestamptz,
    when_dunning_ends    text        NOT NULL,
    cancel_at_period_end boolean     NOT NULL DEFAULT false,
    pending_proration    bigint      NOT NULL DEFAULT 0,
    canceled_at          timestamptz,
    -- A billing runner's lease (core/storage/subscriptions.py, ``lease_due``).
    lease_owner          text,
    lease_until          timestamptz,
    create_time          timestamptz NOT NULL,
    update_time          timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    FOREIGN KEY (merchant_id, customer_id) REFERENCES customers (merchant_id, id),
    FOREIGN KEY (merchant_id, price_id) REFERENCES prices (merchant_id, id),
    FOREIGN KEY (merchant_id, payment_method) REFERENCES card_tokens (merchant_id, id)
);

-- What billing has to do: the runner's scan.
CREATE INDEX subscriptions_due ON subscriptions (next_billing_at)
    WHERE next_billing_at IS NOT NULL;
-- ListSubscriptions of one customer.
CREATE INDEX subscriptions_by_customer ON subscriptions (merchant_id, customer_id, id);

CREATE TABLE invoices (
    merchant_id     text        NOT NULL,
    id              text        NOT NULL,
    subscription_id text        NOT NULL,
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    amount          bigint      NOT NULL CHECK (amount >= 0),
    currency        text        NOT NULL,
    status          text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    first_failed_at timestamptz,
    payment_id      text        NOT NULL DEFAULT '',
    failure_code    text        NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL,
    update_time     timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    FOREIGN KEY (merchant_id, subscription_id) REFERENCES subscriptions (merchant_id, id),
    -- One invoice per period: the guarantee behind "exactly once per period".
    UNIQUE (merchant_id, subscription_id, period_start)
);

-- A merchant's test clock: billing's "now" for that merchant while the row exists.
CREATE TABLE test_clocks (
    merchant_id text        PRIMARY KEY,
    now         timestamptz NOT NULL,
    update_time timestamptz NOT NULL
);
