"""Group commit of channel answers: many payments' second transactions in ONE statement (issue 18).

After the channel call, a CreatePayment records the attempt's outcome, saves
the payment, posts to the ledger, appends events and stores its reply
(``RequestExecutor._store_channel_answer``: about six round trips and a commit
each). ``commit_answers`` does it for a batch of requests in one statement,
run outside an explicit transaction (a statement is its own transaction:
atomic, one commit, one WAL flush for the batch).

It is optimistic: each change was computed (core/service/answer_commit.py)
from the payment as the request's first transaction wrote it, so it is
written only where that is still the truth, per row:

1. ``answer_locked``: lock the attempt, then its payment (the ordinary path's
   order; payments in (merchant, id) order), keeping only the rows whose
   attempt is still ``started`` and whose payment row is still the version the
   first transaction wrote (``xmin``, see ``WrittenPayment``). Locking waits
   for a transaction holding either row and then re-checks both on the latest
   row (READ COMMITTED), so an attempt a status query settled meanwhile, or a
   payment changed meanwhile, drops out;
2. ``answer_paid``: those payments' rows (locked already: this never waits);
3. everything else joined on ``answer_paid``'s RETURNING: the attempts'
   outcomes, the request records with their replies, the events (numbered once
   per merchant; core/storage/events.py) and the ledger postings (system
   accounts only, increments summed per account; core/storage/ledger_append.py).

A row that dropped out wrote nothing at all: its request takes the ordinary
path alone, which finds out why (and refuses, or applies the answer). A change
this statement cannot take (refunds to save; a posting that may be refused,
which needs ``ledger.post``'s checks) is not sent at all. Any failure of the
statement (a deadlock, a constraint, PostgreSQL away) writes nothing of any of
its requests. Lock order is the ordinary path's (the attempt, then its
payment, then ledger accounts in id order, then the merchant's event
sequence: the main query pulls them in that order), so a batch and an
ordinary transaction queue as two ordinary transactions do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from core.ledger.journal import JournalTransaction
from core.ports.repository import AnsweredChange
from core.storage import ledger_append
from core.storage.events import BATCH_EVENT_CTES, PaymentOutbox, event_drafts
from core.storage.payment_rows import MUTABLE_COLUMNS, columns, row_texts
from core.storage.statement import Statement

_ANSWER_CTES = (
    (
        "answer_locked",
        """
        SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                               $6::text[], $7::text[], $8::timestamptz[], $9::text[],
                               $10::text[], $11::boolean[], $12::bytea[], $13::text[],
                               $14::bigint[], $15::bigint[], $16::bigint[], $17::text[],
                               $18::text[], $19::text[], $20::text[], $21::text[],
                               $22::text[], $23::text[], $24::text[], $25::timestamptz[],
                               $26::text[], $27::text[])
            AS u(merchant_id, attempt_id, payment_id, version, outcome, reference,
                 failure_code, at, operation, request_id, ok, reply, state, amount,
                 amount_captured, amount_refunded, card, description, metadata, risk,
                 failure, channel, channel_reference, operation_in_flight, update_time,
                 method_details, routing)
        JOIN channel_attempts a ON a.merchant_id = u.merchant_id AND a.id = u.attempt_id
        JOIN payments p ON p.merchant_id = u.merchant_id AND p.id = u.payment_id
        WHERE a.outcome = 'started' AND a.payment_id = u.payment_id
          AND p.xmin = u.version::xid
        ORDER BY u.merchant_id, u.payment_id
        FOR UPDATE OF a, p
        """,
    ),
    (
        # A routing decision, once stored, stays (as ``PostgresPayments.save``'s).
        "answer_paid",
        f"""
        UPDATE payments p SET ({MUTABLE_COLUMNS}) = (u.state, u.amount, u.amount_captured,
            u.amount_refunded, u.card::jsonb, u.description, u.metadata::jsonb, u.risk::jsonb,
            u.failure::jsonb, u.channel, u.channel_reference, u.operation_in_flight,
            u.update_time, u.method_details::jsonb, COALESCE(u.routing::jsonb, p.routing))
        FROM answer_locked u
        WHERE p.merchant_id = u.merchant_id AND p.id = u.payment_id
          AND p.xmin = u.version::xid
        RETURNING p.merchant_id, p.id
        """,
    ),
    (
        "answer_settled",
        """
        UPDATE channel_attempts a
        SET outcome = u.outcome,
            channel_reference = CASE WHEN u.reference = '' THEN a.channel_reference
                                     ELSE u.reference END,
            failure_code = u.failure_code, complete_time = u.at
        FROM answer_locked u JOIN answer_paid p
            ON p.merchant_id = u.merchant_id AND p.id = u.payment_id
        WHERE a.merchant_id = u.merchant_id AND a.id = u.attempt_id
        RETURNING a.id
        """,
    ),
    (
        "answer_replied",
        """
        UPDATE idempotency_keys k
        SET state = 'completed', reply_ok = u.ok, reply = u.reply,
            resource_id = u.payment_id, complete_time = u.at
        FROM answer_locked u JOIN answer_paid p
            ON p.merchant_id = u.merchant_id AND p.id = u.payment_id
        WHERE k.merchant_id = u.merchant_id AND k.operation = u.operation
          AND k.request_id = u.request_id
        """,
    ),
)

_EVENT_CTES = (
    (
        "event_drafts",
        """
        SELECT d.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                               $6::text[], $7::text[], $8::bytea[], $9::timestamptz[])
            WITH ORDINALITY AS d(merchant_id, payment_id, id, type, resource_type,
                                 resource_id, refund_id, snapshot, create_time, n)
        JOIN answer_paid p ON p.merchant_id = d.merchant_id AND p.id = d.payment_id
        """,
    ),
    *BATCH_EVENT_CTES,
)


def storable(answered: AnsweredChange) -> bool:
    """Whether ``commit_answers`` may take ``answered``; False: only the ordinary path may.

    Refunds are saved row by row there; a posting that may be refused needs
    ``ledger.post``'s checks on locked balances.
    """
    change = answered.change
    if (change.before is not None and change.before.refunds) or change.after.refunds:
        return False
    return ledger_append.appendable(change.after.merchant_id, change.postings)


async def commit_answers(
    pool: asyncpg.Pool, outbox: PaymentOutbox, changes: Sequence[AnsweredChange]
) -> list[bool]:
    """Commit ``changes`` in one statement; whether each was written (and so committed).

    A change not storable (``storable``), or whose attempt or payment moved on (see the
    module docstring), is not written, and nothing of it is; nor is a second
    change of one payment (its "before" would be stale). The postings and events
    written are the changes' own (``AnsweredChange.change``): none is derived here.
    """
    rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    postings: list[tuple[str, str, datetime, JournalTransaction]] = []
    payments: set[tuple[str, str]] = set()
    for change in changes:
        after = change.change.after
        if not storable(change):
            continue
        if (after.merchant_id, after.id) in payments:
            continue  # the second's "before" would be stale (and a row is updated once)
        payments.add((after.merchant_id, after.id))
        result = change.result
        rows.append(
            (
                after.merchant_id,
                change.attempt_id,
                after.id,
                str(change.version),
                result.outcome.value,
                result.reference,
                result.failure.code if result.failure else "",
                change.at,
                change.key.operation,
                change.key.request_id,
                change.ok,
                change.reply,
                *row_texts(after)[2:],
            )
        )
        events.extend(event_drafts(outbox, change.change))
        postings.extend(
            (after.merchant_id, after.id, after.updated_at, txn) for txn in change.change.postings
        )
    if not rows:
        return [False] * len(changes)
    statement = Statement()
    statement.add(_ANSWER_CTES, columns(rows, 27))
    # The main query pulls the CTEs in lock order: every attempt and payment
    # (counting ``answer_paid`` reads it whole), then ledger accounts, then event
    # sequences; the rest (request records, inserts) runs after, at its end.
    pulled = ["(SELECT count(*) FROM answer_paid)"]
    if postings:
        statement.add(ledger_append.draft_ctes("answer_paid"), ledger_append.draft_args(postings))
        statement.add(ledger_append.APPEND_CTES, ())
        pulled.append("(SELECT count(*) FROM ledger_moved)")
    if events:
        statement.add(_EVENT_CTES, columns(events, 9))
        pulled.append("(SELECT count(*) FROM event_appended)")
    pulled.append("ARRAY(SELECT id FROM answer_settled)")
    sql, args = statement.build(f"SELECT {', '.join(pulled)}")
    row = await pool.fetchrow(sql, *args)
    assert row is not None
    settled = set(row[-1])
    return [change.attempt_id in settled for change in changes]
