-- Accounts and a double-entry ledger (issue 6).
--
-- Every money movement is one row of ledger_transactions with entries in
-- ledger_entries that sum to zero per currency (checked by paycore before
-- writing, and by the invariant tests after). Balances are kept alongside the
-- entries in four non-negative sums per account (TigerBeetle's layout), each
-- changed in the same transaction as the entries that explain it, so a balance
-- is always the sum of its entries.

CREATE TABLE ledger_accounts (
    merchant_id      text        NOT NULL,
    id               text        NOT NULL,
    kind             text        NOT NULL,
    currency         text        NOT NULL,
    customer_id      text        NOT NULL DEFAULT '',
    description      text        NOT NULL DEFAULT '',
    allow_overdraft  boolean     NOT NULL,
    debits_posted    bigint      NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted   bigint      NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending   bigint      NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending  bigint      NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    create_time      timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    -- The last line of defence for "a wallet never goes below zero": paycore
    -- checks with a conditional UPDATE first (to answer INSUFFICIENT_FUNDS).
    CONSTRAINT ledger_accounts_no_overdraft
        CHECK (allow_overdraft OR credits_posted - debits_posted - debits_pending >= 0)
);

-- phase: posted | pending | post_pending | void_pending.
-- hold_state: for pending rows, open until a post_pending or void_pending
-- names it ('posted' / 'voided'); '' for every other phase.
-- settlement_id: set on captures and refunds once a settlement counted them.
CREATE TABLE ledger_transactions (
    merchant_id    text        NOT NULL,
    id             text        NOT NULL,
    kind           text        NOT NULL,
    phase          text        NOT NULL,
    currency       text        NOT NULL,
    pending_id     text        NOT NULL DEFAULT '',
    hold_state     text        NOT NULL DEFAULT '',
    reference      text        NOT NULL DEFAULT '',
    method         text        NOT NULL DEFAULT '',
    description    text        NOT NULL DEFAULT '',
    settlement_id  text        NOT NULL DEFAULT '',
    create_time    timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id)
);

-- Settlement looks for what it has not counted yet.
CREATE INDEX ledger_transactions_unsettled ON ledger_transactions (merchant_id, currency, create_time)
    WHERE settlement_id = '' AND kind IN ('capture', 'refund');

-- amount: signed minor units, credit positive, debit negative.
-- seq orders a statement (newest first) and is its page cursor.
CREATE TABLE ledger_entries (
    seq             bigserial   PRIMARY KEY,
    merchant_id     text        NOT NULL,
    transaction_id  text        NOT NULL,
    account_id      text        NOT NULL,
    amount          bigint      NOT NULL CHECK (amount <> 0),
    currency        text        NOT NULL,
    create_time     timestamptz NOT NULL,
    FOREIGN KEY (merchant_id, transaction_id) REFERENCES ledger_transactions (merchant_id, id),
    FOREIGN KEY (merchant_id, account_id) REFERENCES ledger_accounts (merchant_id, id)
);

CREATE INDEX ledger_entries_by_account ON ledger_entries (merchant_id, account_id, seq DESC);
CREATE INDEX ledger_entries_by_transaction ON ledger_entries (merchant_id, transaction_id);

-- Fee rules of one merchant, replacing the configured default of a method
-- (core/ledger/fees.py). No row: the defaults from [ledger] in the config.
CREATE TABLE ledger_fee_rules (
    merchant_id  text    NOT NULL,
    method       text    NOT NULL,
    bps          integer NOT NULL CHECK (bps BETWEEN 0 AND 10000),
    fixed_minor  bigint  NOT NULL CHECK (fixed_minor >= 0),
    PRIMARY KEY (merchant_id, method)
);

-- One settlement per merchant, currency and business day. The unique key is
-- what makes the job safe with several workers: a second worker's INSERT
-- waits for the first one's transaction, then finds the row and does nothing.
-- journal_id is '' when nothing moved (no items, or a negative net carried
-- over to the next settlement: then its items stay unsettled).
CREATE TABLE ledger_settlements (
    merchant_id    text        NOT NULL,
    id             text        NOT NULL,
    currency       text        NOT NULL,
    business_date  date        NOT NULL,
    captured       bigint      NOT NULL DEFAULT 0,
    refunded       bigint      NOT NULL DEFAULT 0,
    fees           bigint      NOT NULL DEFAULT 0,
    net            bigint      NOT NULL DEFAULT 0,
    settled        boolean     NOT NULL DEFAULT false,
    journal_id     text        NOT NULL DEFAULT '',
    create_time    timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    UNIQUE (merchant_id, currency, business_date)
);

-- The report's lines: each capture or refund a settlement counted, with its fee.
CREATE TABLE ledger_settlement_lines (
    merchant_id     text   NOT NULL,
    settlement_id   text   NOT NULL,
    transaction_id  text   NOT NULL,
    kind            text   NOT NULL,
    reference       text   NOT NULL,
    method          text   NOT NULL,
    amount          bigint NOT NULL,
    fee             bigint NOT NULL,
    PRIMARY KEY (merchant_id, settlement_id, transaction_id),
    FOREIGN KEY (merchant_id, settlement_id) REFERENCES ledger_settlements (merchant_id, id)
);

-- Withdrawals to a bank account: a hold on the account until the bank channel
-- answers (post on success, void on failure). state: pending | succeeded | failed.
CREATE TABLE ledger_withdrawals (
    merchant_id   text        NOT NULL,
    id            text        NOT NULL,
    account_id    text        NOT NULL,
    amount        bigint      NOT NULL CHECK (amount > 0),
    currency      text        NOT NULL,
    bank_account  text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    state         text        NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    FOREIGN KEY (merchant_id, account_id) REFERENCES ledger_accounts (merchant_id, id)
);
