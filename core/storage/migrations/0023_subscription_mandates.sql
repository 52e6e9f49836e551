-- Issue 20: a subscription charged under a mandate (core/domain/subscriptions.py,
-- core/service/billing.py): each renewal is a merchant-initiated charge under it.
-- NULL: none (the card token, or the customer's default payment method, pays).
-- A mandate is never deleted, so the reference always resolves; revoking one
-- does not touch the subscription (its next charge is refused and dunned).

ALTER TABLE subscriptions ADD COLUMN mandate_id text;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_mandate_fk
    FOREIGN KEY (merchant_id, mandate_id) REFERENCES mandates (merchant_id, id);
