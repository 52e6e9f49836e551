-- Bank transfer as a payment method (issue 5): the payer, and once the bank
-- registered the transfer, the reference and account the customer pays to.
-- NULL for every other method (a card payment keeps its `card`).

ALTER TABLE payments ADD COLUMN bank_transfer jsonb;
