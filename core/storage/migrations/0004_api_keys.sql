-- Merchants and their API keys (core/auth). A key is stored only as the
-- SHA-256 of the whole key; its prefix is public (shown for support).

CREATE TABLE merchants (
    id                    text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    display_name          text        NOT NULL,
    raw_card_data_allowed boolean     NOT NULL DEFAULT false,
    create_time           timestamptz NOT NULL
);

CREATE TABLE api_keys (
    prefix       text        PRIMARY KEY,
    secret_hash  bytea       NOT NULL CHECK (length(secret_hash) = 32),
    merchant_id  text        REFERENCES merchants (id),
    role         text        NOT NULL CHECK (role IN ('merchant', 'admin', 'superadmin')),
    description  text        NOT NULL DEFAULT '',
    create_time  timestamptz NOT NULL,
    expire_time  timestamptz,
    revoke_time  timestamptz,
    rotated_to   text        REFERENCES api_keys (prefix),
    -- Platform keys are superadmin keys, and only they have no merchant.
    CHECK ((role = 'superadmin') = (merchant_id IS NULL))
);

CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, create_time);
