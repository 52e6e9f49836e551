-- Disputes and chargebacks (issue 22): see core/domain/disputes.py.
--
-- One row per dispute a channel opened; (merchant, channel, channel_reference)
-- is the channel's own id of it, so a notification about it finds it again.
-- kind: inquiry | chargeback; status: needs_response | under_review | won |
-- lost | closed. Amounts in minor units of `currency`.
CREATE TABLE disputes (
    merchant_id         text        NOT NULL,
    id                  text        NOT NULL,
    payment_id          text        NOT NULL,
    channel             text        NOT NULL,
    channel_reference   text        NOT NULL,
    amount              bigint      NOT NULL CHECK (amount > 0),
    fee                 bigint      NOT NULL CHECK (fee >= 0),
    currency            text        NOT NULL,
    kind                text        NOT NULL,
    status              text        NOT NULL,
    reason              text        NOT NULL DEFAULT '',
    evidence_due_time   timestamptz NOT NULL,
    evidence_submitted  boolean     NOT NULL DEFAULT false,
    create_time         timestamptz NOT NULL,
    update_time         timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    UNIQUE (merchant_id, channel, channel_reference),
    FOREIGN KEY (merchant_id, payment_id) REFERENCES payments (merchant_id, id)
);

CREATE INDEX disputes_by_payment ON disputes (merchant_id, payment_id);
CREATE INDEX disputes_newest_first ON disputes (merchant_id, create_time DESC, id DESC);
-- The deadline job (core/service/disputes.py) looks for unanswered disputes past due.
CREATE INDEX disputes_awaiting_response ON disputes (evidence_due_time)
    WHERE status = 'needs_response';

-- The merchant's evidence, sealed under the vault keyring (core/vault/secrets.py,
-- bound to the dispute's id): written once, never shown again. sent_time: when
-- the channel took it (NULL: not yet; the dispute job sends it again).
CREATE TABLE dispute_evidence (
    merchant_id  text        NOT NULL,
    dispute_id   text        NOT NULL,
    sealed       text        NOT NULL,
    create_time  timestamptz NOT NULL,
    sent_time    timestamptz,
    PRIMARY KEY (merchant_id, dispute_id),
    FOREIGN KEY (merchant_id, dispute_id) REFERENCES disputes (merchant_id, id)
);

-- Settlement counts dispute movements on the pending balance too (a chargeback's
-- amount and fee, a won one's return; core/ledger/settlement.py): they join the
-- index of what no settlement counted yet, and a settlement keeps their sum.
DROP INDEX ledger_transactions_unsettled;
CREATE INDEX ledger_transactions_unsettled ON ledger_transactions (merchant_id, currency, create_time)
    WHERE settlement_id = '' AND kind IN ('capture', 'refund', 'dispute');
ALTER TABLE ledger_settlements ADD COLUMN disputed bigint NOT NULL DEFAULT 0;

-- Every dispute notification a channel sent, once (its event id), and what
-- paycore made of it: applied, unchanged (a repeat, or news of a decided
-- dispute), or ignored (nothing left to dispute: the payment was refunded).
CREATE TABLE dispute_notices (
    channel      text        NOT NULL,
    event_id     text        NOT NULL,
    merchant_id  text        NOT NULL,
    payment_id   text        NOT NULL,
    dispute_id   text        NOT NULL DEFAULT '',
    outcome      text        NOT NULL,
    create_time  timestamptz NOT NULL,
    PRIMARY KEY (channel, event_id)
);
