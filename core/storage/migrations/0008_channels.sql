-- Router and channels (issue 5): the routing decision shown on a payment, and
-- what the status-query scheduler needs on each unresolved channel attempt.

ALTER TABLE payments ADD COLUMN routing jsonb;

-- Status queries: how many were made, when the next is due, which worker
-- holds the attempt (lease_until, taken with FOR UPDATE SKIP LOCKED), and
-- whether the schedule ran out and a person must look (needs_attention).
ALTER TABLE channel_attempts
    ADD COLUMN query_count      integer     NOT NULL DEFAULT 0,
    ADD COLUMN next_query_time  timestamptz,
    ADD COLUMN lease_until      timestamptz,
    ADD COLUMN needs_attention  boolean     NOT NULL DEFAULT false;

-- Channel notifications name an attempt by its id alone (the id is the
-- idempotency key paycore gave the channel; ids are globally unique).
CREATE INDEX channel_attempts_by_id ON channel_attempts (id);
