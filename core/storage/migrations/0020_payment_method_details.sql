-- Issue 21: redirect wallets. A payment's method details beside its card are
-- no longer only a bank transfer's: the column keeps a bank transfer's
-- details as before, or {"redirect_wallet": {...}} for a redirect wallet
-- payment (core/storage/payment_methods.py). Renamed, nothing rewritten.

ALTER TABLE payments RENAME COLUMN bank_transfer TO method_details;
