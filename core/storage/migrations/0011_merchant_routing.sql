-- A merchant's own routing chain, set through RoutingService (issue 5). The
-- routing file stays the default: a merchant without a row (or with chain
-- NULL, after "use the default") routes by the file.
-- `chain` is the merchant's table of the routing file, as JSON (router/config.py
-- parses both). The row is created on first use and never deleted, so a change
-- always locks it: two admins changing the chain at once are serialized.

CREATE TABLE merchant_routing (
    merchant_id  text        PRIMARY KEY,
    chain        jsonb,
    update_time  timestamptz
);
