-- Issue 21: 3-D Secure. A card payment's authentication (frictionless or a
-- challenge), and while a challenge is open, where the customer is sent and
-- until when (core/domain/authentication.py, core/storage/authentications.py).
-- One row per payment whose card takes part in 3-D Secure; none otherwise.

CREATE TABLE payment_authentications (
    merchant_id     text        NOT NULL,
    payment_id      text        NOT NULL,
    flow            text        NOT NULL CHECK (flow IN ('frictionless', 'challenge')),
    status          text        NOT NULL CHECK (status IN ('challenge_pending', 'succeeded',
                                    'failed', 'unavailable', 'abandoned')),
    eci             text        NOT NULL DEFAULT '',
    liability_shift boolean     NOT NULL DEFAULT false,
    -- A challenge's page and the merchant's return page (kept after the
    -- challenge ends: a repeated completion is sent back there again).
    redirect_url    text        NOT NULL DEFAULT '',
    return_url      text        NOT NULL DEFAULT '',
    expire_time     timestamptz,
    -- The vault token the card was sealed under while the customer acts
    -- (never the card itself): revealed for the authorization that follows.
    card_token      text        NOT NULL DEFAULT '',
    update_time     timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, payment_id),
    FOREIGN KEY (merchant_id, payment_id) REFERENCES payments (merchant_id, id)
);

-- The completion endpoint knows the payment id only (it is in the signed result).
CREATE UNIQUE INDEX payment_authentications_payment ON payment_authentications (payment_id);

-- The expiry sweep reads the open challenges, oldest deadline first.
CREATE INDEX payment_authentications_open ON payment_authentications (expire_time)
    WHERE status = 'challenge_pending';
