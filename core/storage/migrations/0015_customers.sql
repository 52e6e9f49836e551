-- Issue 20: a merchant's customers (CustomerService, core/storage/customers.py).
-- A deleted customer keeps its row (payments made before may name its id) with
-- what identifies the person erased; reads skip it.

CREATE TABLE customers (
    merchant_id            text        NOT NULL,
    id                     text        NOT NULL,
    email                  text        NOT NULL DEFAULT '',
    name                   text        NOT NULL DEFAULT '',
    metadata               jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- A card token of the same merchant, or NULL.
    default_payment_method text,
    deleted                boolean     NOT NULL DEFAULT false,
    create_time            timestamptz NOT NULL,
    update_time            timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, id),
    FOREIGN KEY (merchant_id, default_payment_method) REFERENCES card_tokens (merchant_id, id)
);

-- ListCustomers by email (the primary key serves the listing without a filter).
CREATE INDEX customers_by_email ON customers (merchant_id, email, id) WHERE NOT deleted;
