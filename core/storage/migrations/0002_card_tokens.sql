-- The card vault (core/vault): one row per tokenized card.
-- The full card number exists here only inside `ciphertext` (AES-256-GCM under a
-- per-row data key); `wrapped_dek` is that data key encrypted under the
-- key-encryption key `key_id` from paycore's configuration. The CVC is never stored.
-- brand/bin/last4/expiry/fingerprint are the masked card shown to callers.

CREATE TABLE card_tokens (
    merchant_id  text        NOT NULL,
    id           text        NOT NULL,
    brand        text        NOT NULL,
    bin          text        NOT NULL CHECK (bin ~ '^[0-9]{6}$'),
    last4        text        NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month    smallint    NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year     smallint    NOT NULL,
    fingerprint  text        NOT NULL,
    key_id       text        NOT NULL,
    wrapped_dek  bytea       NOT NULL,
    dek_nonce    bytea       NOT NULL,
    nonce        bytea       NOT NULL,
    ciphertext   bytea       NOT NULL,
    create_time  timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id)
);

-- Rotation finds the rows not yet under the active key.
CREATE INDEX card_tokens_by_key ON card_tokens (key_id);
