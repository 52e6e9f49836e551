-- Issue 16 item 7: a refund the channel refused says why (refund.failed events
-- carry the refund itself). NULL for every other state and for refunds that
-- failed before this column existed.

ALTER TABLE refunds ADD COLUMN failure jsonb;
