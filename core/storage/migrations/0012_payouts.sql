-- Withdrawals through the bank channel (issue 6, second landing).
--
-- A withdrawal is scored by the risk engine before its hold is placed:
-- state may now also be 'requires_review' (held: the money is reserved, the
-- bank has not been told; an admin decides) or 'declined' (nothing held).
-- The bank's answer arrives as a signed notification (POST
-- /callbacks/bank_transfer/payouts) or, when that never comes, by a status
-- query: next_query_time / query_count / lease_until drive the queries
-- (core/service/payouts.py) as channel_attempts' do for payments;
-- needs_attention marks one whose query schedule ran out (a person settles it).
ALTER TABLE ledger_withdrawals
    ADD COLUMN bank_reference   text        NOT NULL DEFAULT '',
    ADD COLUMN failure_code     text        NOT NULL DEFAULT '',
    ADD COLUMN failure_message  text        NOT NULL DEFAULT '',
    ADD COLUMN risk_decision    text        NOT NULL DEFAULT '',
    ADD COLUMN risk_score       integer     NOT NULL DEFAULT 0,
    ADD COLUMN query_count      integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_query_time  timestamptz,
    ADD COLUMN lease_until      timestamptz,
    ADD COLUMN needs_attention  boolean     NOT NULL DEFAULT false;

-- Withdrawals made before this migration are asked about at once.
UPDATE ledger_withdrawals SET next_query_time = update_time WHERE state = 'pending';

CREATE INDEX ledger_withdrawals_due ON ledger_withdrawals (next_query_time)
    WHERE state = 'pending' AND NOT needs_attention;
