-- Issue 21: verification codes. A wallet payment risk stepped up waits for the
-- one-time code sent to its customer (core/domain/verification.py,
-- core/storage/verification_codes.py). The code itself is never stored: only
-- its keyed digest (HMAC-SHA256 under the process's code key, bound to the
-- payment). One row per payment that was asked for a code.

CREATE TABLE payment_verification_codes (
    merchant_id   text        NOT NULL,
    payment_id    text        NOT NULL,
    code_digest   text        NOT NULL,
    -- Where the code went, masked as the API shows it (never the address itself).
    sent_to       text        NOT NULL,
    attempts_left integer     NOT NULL CHECK (attempts_left >= 0),
    expire_time   timestamptz NOT NULL,
    -- False once the step ended (right code, lockout, expiry); a payment canceled
    -- by the merchant leaves it true until the expiry sweep finds and closes it.
    open          boolean     NOT NULL DEFAULT true,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, payment_id),
    FOREIGN KEY (merchant_id, payment_id) REFERENCES payments (merchant_id, id)
);

-- The expiry sweep reads the open steps, oldest deadline first.
CREATE INDEX payment_verification_codes_open ON payment_verification_codes (expire_time)
    WHERE open;
