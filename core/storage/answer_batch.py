"""Group commit of channel answers: many payments' second transactions as one (issue 18).

After the channel call, a CreatePayment records the attempt's outcome, saves
the payment, posts to the ledger, appends events and stores its reply
(``RequestExecutor._store_channel_answer``: about six round trips and a commit
each). ``PostgresAnswerBatch`` does it for a batch of requests in one
transaction and three statements:

1. ``settle``: record every attempt's outcome, but only where it is still
   ``started`` (an attempt a status query settled meanwhile drops out alone),
   and lock those attempts' payments, in (merchant, id) order;
2. read the locked payments (a new statement: a new snapshot under READ
   COMMITTED, as ``PostgresTransaction.lock_payment`` explains);
3. ``write``: every payment row, the request records with their replies, the
   ledger postings (system accounts only, increments summed per account;
   core/storage/ledger_append.py) and the events (numbered once per merchant;
   core/storage/events.py); and, for requests the caller or ``write`` left out,
   the attempt's outcome put back as it was, so nothing of theirs is written.

Any failure (a deadlock, a constraint, PostgreSQL away) rolls the whole batch
back: nothing of any of its requests was written and each takes the ordinary
path. Lock order is the ordinary path's (the attempt, then its payment, then
ledger accounts in id order, then the merchant's event sequence), so a batch
and an ordinary transaction queue as two ordinary transactions do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from core.domain.payment import Payment
from core.ledger.journal import JournalTransaction
from core.ledger.postings import postings_for
from core.storage import ledger_append
from core.storage.events import BATCH_EVENT_CTES, PaymentOutbox, event_drafts
from core.storage.payment_reads import PAYMENT_COLUMNS, payment_from_row
from core.storage.payment_rows import MUTABLE_COLUMNS, columns, row_texts
from core.storage.repository import AnsweredChange, ChannelAnswer
from core.storage.statement import Statement

_SETTLE = """
WITH answers AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::timestamptz[])
        AS u(merchant_id, id, outcome, reference, failure_code, complete_time)
), settled AS (
    UPDATE channel_attempts a
    SET outcome = u.outcome,
        channel_reference = CASE WHEN u.reference = '' THEN a.channel_reference
                                 ELSE u.reference END,
        failure_code = u.failure_code, complete_time = u.complete_time
    FROM answers u, channel_attempts old
    WHERE a.merchant_id = u.merchant_id AND a.id = u.id AND a.outcome = 'started'
      AND old.merchant_id = a.merchant_id AND old.id = a.id
    -- ``old``: the values to put back if this request drops out after the read.
    RETURNING a.merchant_id, a.id, a.payment_id, old.channel_reference AS old_reference,
              old.failure_code AS old_failure_code, old.complete_time AS old_complete_time
)
SELECT s.* FROM settled s JOIN payments p ON p.merchant_id = s.merchant_id AND p.id = s.payment_id
ORDER BY p.merchant_id, p.id
FOR UPDATE OF p
"""

_READ = f"""
SELECT {PAYMENT_COLUMNS}
FROM payments p JOIN unnest($1::text[], $2::text[]) AS u(merchant_id, id)
    ON p.merchant_id = u.merchant_id AND p.id = u.id
"""

_REVERT_CTES = (
    (
        "answer_reverted",
        """
        UPDATE channel_attempts a
        SET outcome = 'started', channel_reference = u.reference,
            failure_code = u.failure_code, complete_time = u.complete_time
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
            AS u(merchant_id, id, reference, failure_code, complete_time)
        WHERE a.merchant_id = u.merchant_id AND a.id = u.id
        """,
    ),
)

_WRITE_CTES = (
    (
        "answer_requests",
        """
        UPDATE idempotency_keys k
        SET state = 'completed', reply_ok = u.ok, reply = u.reply,
            resource_id = u.resource_id, complete_time = u.at
        FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[], $5::bytea[],
                    $6::text[], $7::timestamptz[])
            AS u(merchant_id, operation, request_id, ok, reply, resource_id, at)
        WHERE k.merchant_id = u.merchant_id AND k.operation = u.operation
          AND k.request_id = u.request_id
        """,
    ),
    (
        # A routing decision, once stored, stays (as ``save_payment``'s).
        "answer_payments",
        f"""
        UPDATE payments p SET ({MUTABLE_COLUMNS}) = (u.state, u.amount, u.amount_captured,
            u.amount_refunded, u.card::jsonb, u.description, u.metadata::jsonb, u.risk::jsonb,
            u.failure::jsonb, u.channel, u.channel_reference, u.operation_in_flight,
            u.update_time, u.bank_transfer::jsonb, COALESCE(u.routing::jsonb, p.routing))
        FROM unnest($8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[],
                    $13::bigint[], $14::text[], $15::text[], $16::text[], $17::text[],
                    $18::text[], $19::text[], $20::text[], $21::text[], $22::timestamptz[],
                    $23::text[], $24::text[])
            AS u(merchant_id, id, state, amount, amount_captured, amount_refunded, card,
                 description, metadata, risk, failure, channel, channel_reference,
                 operation_in_flight, update_time, bank_transfer, routing)
        WHERE p.merchant_id = u.merchant_id AND p.id = u.id
        RETURNING 1
        """,
    ),
)

_EVENT_DRAFTS_CTES = (
    (
        "event_drafts",
        """
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                             $6::text[], $7::text[], $8::bytea[], $9::timestamptz[])
            WITH ORDINALITY AS d(merchant_id, payment_id, id, type, resource_type,
                                 resource_id, refund_id, snapshot, create_time, n)
        """,
    ),
    *BATCH_EVENT_CTES,
)


class PostgresAnswerBatch:
    """The transaction of one batch of channel answers (see the module docstring).

    ``settle`` once, then ``write`` once, inside the transaction the caller
    opened on ``connection`` (``PostgresPaymentRepository.answer_batch``).
    """

    def __init__(self, connection: asyncpg.Connection, outbox: PaymentOutbox) -> None:
        self._c = connection
        self._outbox = outbox
        self._answers: Sequence[ChannelAnswer] = ()
        self._old: dict[tuple[str, str], tuple[str, str, datetime | None]] = {}
        """Settled attempts' values before ``settle``: what dropping one out puts back."""

    async def settle(self, answers: Sequence[ChannelAnswer]) -> list[Payment | None]:
        """Record the answers and lock and read their payments; None: not settled here.

        An answer whose attempt is no longer ``started`` (or whose payment is
        gone) changes nothing and gets None: its request takes the ordinary
        path, which finds out why.
        """
        self._answers = answers
        rows = await self._c.fetch(
            _SETTLE,
            [a.merchant_id for a in answers],
            [a.attempt_id for a in answers],
            [a.result.outcome.value for a in answers],
            [a.result.reference for a in answers],
            [a.result.failure.code if a.result.failure else "" for a in answers],
            [a.at for a in answers],
        )
        self._old = {
            (row["merchant_id"], row["id"]): (
                row["old_reference"],
                row["old_failure_code"],
                row["old_complete_time"],
            )
            for row in rows
        }
        if not rows:
            return [None] * len(answers)
        read = await self._c.fetch(
            _READ,
            [row["merchant_id"] for row in rows],
            [row["payment_id"] for row in rows],
        )
        payments = {(row["merchant_id"], row["id"]): payment_from_row(row) for row in read}
        return [
            payments.get((a.merchant_id, a.payment_id))
            if (a.merchant_id, a.attempt_id) in self._old
            else None
            for a in answers
        ]

    async def write(self, changes: Sequence[AnsweredChange | None]) -> list[bool]:
        """Write ``changes`` (one per answer of ``settle``; None: leave that request out).

        Returns whether each was written. A change this statement cannot take
        (refunds to save; a ledger posting that may be refused, which needs
        ``ledger.post``'s checks) is left out too; every answer left out has its
        attempt put back as it was, so its request's ordinary path starts afresh.
        """
        kept: list[AnsweredChange] = []
        written = [False] * len(self._answers)
        reverted: list[tuple[Any, ...]] = []
        postings: list[tuple[str, datetime, JournalTransaction]] = []
        for index, (answer, change) in enumerate(zip(self._answers, changes, strict=True)):
            old = self._old.get((answer.merchant_id, answer.attempt_id))
            if old is None:
                continue  # not settled: nothing of it was written
            moved = [] if change is None else postings_for(change.before, change.after)
            if (
                change is None
                or change.before.refunds
                or change.after.refunds
                or (moved and not ledger_append.appendable(change.after.merchant_id, moved))
            ):
                reverted.append((answer.merchant_id, answer.attempt_id, *old))
                continue
            kept.append(change)
            written[index] = True
            at = change.after.updated_at
            postings.extend((change.after.merchant_id, at, txn) for txn in moved)
        statement = Statement()
        if reverted:
            statement.add(_REVERT_CTES, columns(reverted, 5))
        if not kept:
            if reverted:
                sql, args = statement.build("SELECT 1")
                await self._c.execute(sql, *args)
            return written
        requests = [
            (
                c.key.merchant_id,
                c.key.operation,
                c.key.request_id,
                c.ok,
                c.reply,
                c.after.id,
                c.at,
            )
            for c in kept
        ]
        statement.add(
            _WRITE_CTES,
            [*columns(requests, 7), *columns([row_texts(c.after) for c in kept], 17)],
        )
        events = [row for c in kept for row in event_drafts(self._outbox, c.before, c.after)]
        if events:
            statement.add(_EVENT_DRAFTS_CTES, columns(events, 9))
        accounts = 0
        accounts_moved = "0"
        if postings:
            args, accounts = ledger_append.append_args(postings)
            statement.add(ledger_append.APPEND_CTES, args)
            accounts_moved = "(SELECT count(*) FROM ledger_moved)"
        query = f"SELECT (SELECT count(*) FROM answer_payments), {accounts_moved}"
        sql, args = statement.build(query)
        row = await self._c.fetchrow(sql, *args)
        assert row is not None
        if row[0] != len(kept):
            raise LookupError("a payment locked by its batch vanished")
        if row[1] != accounts:
            # A row under a system account's id that may not be overdrawn: never
            # written by paycore (see ledger_append.post_appended). The batch rolls back.
            raise ValueError("ledger accounts of a batch are not all overdraftable")
        return written
