-- Refund review (issue 8): merchant settings, and refunds held for an admin.
--
-- A refund may now be 'pending_review' (held, amount reserved, not sent to a
-- channel) or 'rejected' (an admin said no; final, amount freed). The refund
-- states are text, so the new values need no schema change; the rejection
-- reason does.

ALTER TABLE refunds ADD COLUMN rejection_reason text NOT NULL DEFAULT '';

-- ListRefunds: newest first, keyset pagination on (create_time, id); the
-- review queue (state = 'pending_review') is a small partial index of its own.
CREATE INDEX refunds_by_time ON refunds (merchant_id, create_time DESC, id DESC);
CREATE INDEX refunds_in_review ON refunds (merchant_id, create_time DESC, id DESC)
    WHERE state = 'pending_review';

-- One row per merchant whose admins changed a setting; no row = the defaults.
-- refund_review_thresholds: [{"currency": "USD", "amount": 10000}, ...] in
-- minor units, at most one per currency (checked by paycore before writing).
CREATE TABLE merchant_settings (
    merchant_id               text        PRIMARY KEY,
    refund_review_thresholds  jsonb       NOT NULL DEFAULT '[]'::jsonb,
    update_time               timestamptz
);
