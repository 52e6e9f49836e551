"""Group commit of channel answers: the second transaction of many requests as one (issue 18).

After its channel call, a request hands the answer to ``AnswerWriter``; the
answers ready in the same turn of the event loop are applied in one
transaction (core/storage/answer_batch.py: settle the attempts and lock their
payments, read the payments, one statement writing everything, COMMIT).
What to write is decided here, per request, exactly as the ordinary path
(``RequestExecutor._store_channel_answer``) decides it: the payment must still
await this attempt's answer, and ``Dispatch.complete`` gives the payment after
it and the reply.

Per request, the outcome is one of:
- a Reply: committed with its batch (a reply still means committed);
- None: nothing of it was written (its attempt no longer started, its payment
  moved on, a failover to make, or a change the batch's statement cannot
  take): the ordinary path applies the answer, or finds out why not, alone;
- BatchFailedError: the batch failed, rolled back or with only its COMMIT's
  acknowledgement lost; the caller reads the request's stored reply to know
  which, then goes the ordinary path if there is none.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from core.domain import lifecycle
from core.domain.attempt import ChannelResult
from core.domain.errors import PaycoreError
from core.service.batching import Batcher
from core.service.requests import Dispatch, Encoder, Reply
from core.storage.repository import AnswerBatch, AnsweredChange, ChannelAnswer, RequestKey


class AnswerBatches(Protocol):
    """Storage that settles many channel answers in one transaction."""

    def answer_batch(self) -> AbstractAsyncContextManager[AnswerBatch | None]:
        """The batch's transaction; None: not supported here."""
        ...


@dataclass(frozen=True, slots=True)
class _Answer:
    key: RequestKey
    encoder: Encoder[Any]
    dispatch: Dispatch[Any]
    result: ChannelResult
    at: datetime


class AnswerWriter:
    """Collects channel answers and commits those ready in one loop turn as one transaction."""

    def __init__(self, storage: AnswerBatches) -> None:
        self._storage = storage
        self._batcher: Batcher[_Answer, Reply | None] = Batcher(self._commit)

    @property
    def batches(self) -> int:
        """Transactions sent (for benchmarks and tests)."""
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
        return await self._batcher.submit(_Answer(key, encoder, dispatch, result, at))

    async def _commit(self, batch: list[_Answer]) -> list[Reply | None]:
        async with self._storage.answer_batch() as tx:
            if tx is None:
                return [None] * len(batch)
            current = await tx.settle(
                [
                    ChannelAnswer(
                        item.key.merchant_id,
                        item.dispatch.attempt.id,
                        item.dispatch.attempt.payment_id,
                        item.result,
                        item.at,
                    )
                    for item in batch
                ]
            )
            changes = _decided(batch, current)
            written = await tx.write([change for change, _ in changes])
        # Left the ``async with`` normally: COMMIT returned, so every written reply is durable.
        return [reply if done else None for (_, reply), done in zip(changes, written, strict=True)]


def _decided(
    batch: Sequence[_Answer], current: Sequence[Any]
) -> list[tuple[AnsweredChange | None, Reply | None]]:
    """Each answer's change and reply, as the ordinary path decides them; None: left out."""
    decided: list[tuple[AnsweredChange | None, Reply | None]] = []
    payments: set[tuple[str, str]] = set()
    for item, payment in zip(batch, current, strict=True):
        attempt = item.dispatch.attempt
        if (
            payment is None
            # Two answers for one payment: the second's "before" would be stale.
            or (payment.merchant_id, payment.id) in payments
            # Settled meanwhile by a status query or a notification: the ordinary
            # path rolls back and says REQUEST_IN_PROGRESS, as it always did.
            or not lifecycle.awaits_answer(payment, attempt)
            # A failover records the next attempt: the ordinary path's work.
            or (item.result.not_processed and item.dispatch.failover is not None)
        ):
            decided.append((None, None))
            continue
        payments.add((payment.merchant_id, payment.id))
        updated, value = item.dispatch.complete(payment, item.result, item.at)
        if isinstance(value, PaycoreError):
            ok, body = False, item.encoder.failure(value)
        else:
            ok, body = True, item.encoder.success(value)
        decided.append(
            (AnsweredChange(item.key, payment, updated, ok, body, item.at), Reply(ok, body))
        )
    return decided
