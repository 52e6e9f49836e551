"""Group commit of channel answers: the second transaction of many requests as one (issue 18).

After its channel call, a request hands the answer to ``AnswerWriter``; the
answers ready in the same turn of the event loop are written in one statement
(core/storage/answer_batch.py). What to write is decided here, per request,
before the batch, exactly as the ordinary path
(``RequestExecutor._store_channel_answer``) decides it, but from the payment as
the request's group-committed first transaction wrote it (``Dispatch.written``):
the payment must await this attempt's answer, and ``Dispatch.complete`` gives
the payment after it and the reply. The statement writes a change only where
the payment's row is still that version and the attempt still ``started``, so
a change computed from a stale payment is never written.

Per request, the outcome is one of:
- a Reply: committed with its batch (a reply still means committed);
- None: nothing of it was written (claimed the ordinary way, its attempt no
  longer started, its payment moved on, a failover to make, or a change the
  batch's statement cannot take): the ordinary path applies the answer, or
  finds out why not, alone;
- BatchFailedError: the batch's statement failed, so nothing of it was written,
  or only its acknowledgement was lost; the caller reads the request's stored
  reply to know which, then goes the ordinary path if there is none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from core.batching import Batcher
from core.domain import lifecycle
from core.domain.attempt import ChannelResult
from core.domain.errors import PaycoreError
from core.domain.payment import Payment
from core.ports.repository import AnsweredChange, RequestKey
from core.service.payment_changes import payment_change
from core.service.requests import Dispatch, Encoder, Reply


class AnswerBatches(Protocol):
    """Storage that commits many channel answers in one statement."""

    async def commit_answers(self, changes: Sequence[AnsweredChange]) -> list[bool] | None:
        """Whether each change was written (and committed); None: not supported here."""
        ...


class AnswerWriter:
    """Collects channel answers and commits those ready in one loop turn as one statement."""

    def __init__(self, storage: AnswerBatches) -> None:
        self._storage = storage
        self._batcher: Batcher[AnsweredChange, bool] = Batcher(self._commit)

    @property
    def batches(self) -> int:
        """Statements sent (for benchmarks and tests)."""
        return self._batcher.batches

    @property
    def answers(self) -> int:
        """Answers sent in them."""
        return self._batcher.items

    async def answer(
        self,
        key: RequestKey,
        encoder: Encoder[Any],
        dispatch: Dispatch[Any],
        result: ChannelResult,
        at: datetime,
    ) -> Reply | None:
        """Apply ``result`` with the batch: the reply if committed, None if not written.

        Raises BatchFailedError when the batch failed (see the module docstring).
        Cancellation: the executor's request task is shielded from its caller,
        so this is cancelled only at shutdown (``RequestExecutor.drain``); the
        batch commits or fails as a whole either way. Committed, the request
        is as after a crash just after its commit: its retry replays the
        stored reply. Not committed, it is as after a crash before: the
        attempt stays "started" and a status query settles it.
        """
        written = dispatch.written
        if written is None:
            return None  # claimed the ordinary way: its payment is not known here
        before = _recorded(written.payment, dispatch.attempt.id, result, at)
        if (
            # Settled already (never, for the payment as its claim wrote it; the
            # statement checks the row is still that).
            not lifecycle.awaits_answer(before, dispatch.attempt)
            # A failover records the next attempt: the ordinary path's work.
            or (result.not_processed and dispatch.failover is not None)
        ):
            return None
        after, value = dispatch.complete(before, result, at)
        if isinstance(value, PaycoreError):
            reply = Reply(False, encoder.failure(value))
        else:
            reply = Reply(True, encoder.success(value))
        attempt_id, version = dispatch.attempt.id, written.version
        # The money the answer moved (a capture) and the events it announces
        # commit with the payment in the batch's statement.
        change = AnsweredChange(
            key,
            attempt_id,
            result,
            version,
            payment_change(before, after),
            reply.ok,
            reply.body,
            at,
        )
        return reply if await self._batcher.submit(change) else None

    async def _commit(self, batch: list[AnsweredChange]) -> list[bool]:
        # The statement returned: every written change is committed (and durable).
        written = await self._storage.commit_answers(batch)
        return [False] * len(batch) if written is None else written


def _recorded(payment: Payment, attempt_id: str, result: ChannelResult, at: datetime) -> Payment:
    """``payment`` as read once the attempt's outcome is recorded, as the ordinary path reads it.

    (``attempts.complete`` then ``payments.lock``: the reply and the events show
    the attempt settled.) The statement records the outcome the same way.
    """
    return dataclasses.replace(
        payment,
        attempts=tuple(
            dataclasses.replace(
                record,
                outcome=result.outcome.value,
                failure_code=result.failure.code if result.failure else "",
                channel_reference=result.reference or record.channel_reference,
                completed_at=at,
            )
            if record.id == attempt_id
            else record
            for record in payment.attempts
        ),
    )
