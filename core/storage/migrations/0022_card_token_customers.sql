-- Issue 20: a card token can belong to a customer. TokenizeCard's customer_id is
-- kept with the token: a customer id (`cus_...`) named a live customer of the
-- merchant when the card was stored; any other value is the merchant's own
-- free-text reference. '' (every token stored before this migration): the
-- token belongs to no customer and pays for any (core/domain/customers.py,
-- ``customer_paying_by_token``). No foreign key: free text names no row, and a
-- deleted customer's row stays (erased) anyway.

ALTER TABLE card_tokens ADD COLUMN customer_id text NOT NULL DEFAULT '';

-- ListPaymentMethods: the cards a customer saved, without scanning the merchant's.
CREATE INDEX card_tokens_by_customer ON card_tokens (merchant_id, customer_id, id)
    WHERE customer_id <> '';
