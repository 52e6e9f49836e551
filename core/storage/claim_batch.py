"""Group commit of new payments' first transactions: many requests, one statement (issue 18).

``commit_new_claims`` writes the first transaction of many CreatePayment
requests in ONE statement, run outside an explicit transaction (a statement
is its own transaction: atomic, one commit, one WAL flush for the batch):

- ``claimed``: the request_id records, inserted in key order; a record that
  exists and has not expired is left alone (``ON CONFLICT ... WHERE``), and its
  request is simply not in ``RETURNING``: that request, and only it, is not
  claimed here (the caller runs it through the ordinary path, which replays,
  refuses or waits as a claim there decides);
- the payments, their attempts and their events, each a multi-row insert of
  the claimed requests' rows only (joined on ``claimed``);
- the events numbered per merchant: one ``event_sequences`` upsert per
  merchant of the batch, in merchant order (the lock is held to the commit, so
  numbers still become visible in order and without gaps; see events.py),
  then fanned out to the merchants' webhook endpoints as the outbox does.

Any failure of the statement (a unique violation, a deadlock, PostgreSQL away)
rolls all of it back and raises: nothing of any request of the batch was
written, and each runs through the ordinary path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from core.ports.repository import NewClaim
from core.storage.events import BATCH_EVENT_CTES, PaymentOutbox, ctes_text, event_drafts
from core.storage.payment_rows import MUTABLE_COLUMNS, columns, row_texts

_COMMIT = f"""
WITH claims AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[],
                         $6::boolean[], $7::bytea[], $8::text[], $9::timestamptz[],
                         $10::timestamptz[], $11::timestamptz[])
        AS c(merchant_id, operation, request_id, fingerprint, state, reply_ok, reply,
             resource_id, create_time, lease_until, complete_time)
), claimed AS (
    INSERT INTO idempotency_keys AS k (merchant_id, operation, request_id, fingerprint, state,
        reply_ok, reply, resource_id, create_time, lease_until, complete_time)
    SELECT * FROM claims ORDER BY merchant_id, operation, request_id
    ON CONFLICT (merchant_id, operation, request_id) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, state = EXCLUDED.state,
            reply_ok = EXCLUDED.reply_ok, reply = EXCLUDED.reply,
            resource_id = EXCLUDED.resource_id, create_time = EXCLUDED.create_time,
            lease_until = EXCLUDED.lease_until, complete_time = EXCLUDED.complete_time
        WHERE k.create_time < $12
    RETURNING merchant_id, resource_id, xmin
), payment_rows AS (
    INSERT INTO payments (merchant_id, id, {MUTABLE_COLUMNS},
        currency, capture_method, confirmation_method, customer_id, create_time)
    SELECT p.merchant_id, p.id, p.state, p.amount, p.amount_captured, p.amount_refunded,
        p.card::jsonb, p.description, p.metadata::jsonb, p.risk::jsonb, p.failure::jsonb,
        p.channel, p.channel_reference, p.operation_in_flight, p.update_time,
        p.method_details::jsonb, p.routing::jsonb, p.currency, p.capture_method,
        p.confirmation_method, p.customer_id, p.create_time
    FROM unnest($13::text[], $14::text[], $15::text[], $16::bigint[], $17::bigint[],
                $18::bigint[], $19::text[], $20::text[], $21::text[], $22::text[], $23::text[],
                $24::text[], $25::text[], $26::text[], $27::timestamptz[], $28::text[],
                $29::text[], $30::text[], $31::text[], $32::text[], $33::text[],
                $34::timestamptz[])
        AS p(merchant_id, id, state, amount, amount_captured, amount_refunded, card,
             description, metadata, risk, failure, channel, channel_reference,
             operation_in_flight, update_time, method_details, routing, currency,
             capture_method, confirmation_method, customer_id, create_time)
    JOIN claimed USING (merchant_id) WHERE claimed.resource_id = p.id
), attempts AS (
    INSERT INTO channel_attempts (merchant_id, id, payment_id, refund_id, operation, channel,
                                  amount, currency, channel_reference, create_time)
    SELECT a.merchant_id, a.id, a.payment_id, a.refund_id, a.operation, a.channel, a.amount,
           a.currency, a.channel_reference, a.create_time
    FROM unnest($35::text[], $36::text[], $37::text[], $38::text[], $39::text[], $40::text[],
                $41::bigint[], $42::text[], $43::text[], $44::timestamptz[])
        AS a(merchant_id, id, payment_id, refund_id, operation, channel, amount, currency,
             channel_reference, create_time)
    JOIN claimed USING (merchant_id) WHERE claimed.resource_id = a.payment_id
), event_drafts AS (
    SELECT d.* FROM unnest($45::text[], $46::text[], $47::text[], $48::text[], $49::text[],
                           $50::text[], $51::text[], $52::bytea[], $53::timestamptz[])
        WITH ORDINALITY AS d(merchant_id, payment_id, id, type, resource_type, resource_id,
                             refund_id, snapshot, create_time, n)
    JOIN claimed USING (merchant_id) WHERE claimed.resource_id = d.payment_id
), {ctes_text(BATCH_EVENT_CTES)}
SELECT merchant_id, resource_id, xmin::text::bigint AS version FROM claimed
"""


async def commit_new_claims(
    pool: asyncpg.Pool,
    outbox: PaymentOutbox,
    claims: Sequence[NewClaim],
    expired_before: datetime,
) -> list[int | None]:
    """Commit ``claims`` in one statement; each one's payment row version if it was claimed.

    None: not claimed (nothing of it written). The version is the statement's
    transaction id, the ``xmin`` of every row it wrote (``WrittenPayment``).
    Payment ids are unique, so ``(merchant_id, resource_id)`` names a claim.
    ``expired_before``: a record created earlier is forgotten and taken over.
    The events written are the claims' own (``NewClaim.change.events``).
    """
    keys, payments, attempts, events = [], [], [], []
    for claim in claims:
        payment = claim.payment
        if claim.change.before is not None or claim.change.postings:
            # The statement inserts new payments and posts nothing (the
            # application never batches one that posts): refuse, not drop.
            raise ValueError(f"payment {payment.id} is not a new payment without postings")
        ok, reply = claim.reply if claim.reply is not None else (None, None)
        keys.append(
            (
                claim.key.merchant_id,
                claim.key.operation,
                claim.key.request_id,
                claim.fingerprint,
                "completed" if claim.reply is not None else "in_progress",
                ok,
                reply,
                payment.id,
                claim.at,
                claim.lease_until,
                claim.at if claim.reply is not None else None,
            )
        )
        payments.append(
            (
                *row_texts(payment),
                payment.currency,
                payment.capture_method.value,
                payment.confirmation_method.value,
                payment.customer_id,
                payment.created_at,
            )
        )
        if claim.attempt is not None:
            a = claim.attempt
            attempts.append(
                (
                    a.merchant_id,
                    a.id,
                    a.payment_id,
                    a.refund_id,
                    a.operation.value,
                    a.channel,
                    a.amount.amount,
                    a.amount.currency,
                    a.channel_reference,
                    claim.at,
                )
            )
        events.extend(event_drafts(outbox, claim.change))
    rows = await pool.fetch(
        _COMMIT,
        *columns(keys, 11),
        expired_before,
        *columns(payments, 22),
        *columns(attempts, 10),
        *columns(events, 9),
    )
    done = {(row["merchant_id"], row["resource_id"]): row["version"] for row in rows}
    return [done.get((c.key.merchant_id, c.payment.id)) for c in claims]
