"""A request's channel call and transaction 2: the channel's answer applied and committed.

Runs after transaction 1 committed the attempt (core/service/request_claim.py),
with no transaction open and no connection held. The answer is committed with
the request's stored reply, group-committed for a new payment when it can be
(core/service/answer_commit.py), else on its own with retries while PostgreSQL
is away. ``RequestExecutor`` (core/service/execution.py) drives these steps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from core.batching import BatchFailedError
from core.domain import lifecycle
from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.errors import PaycoreError, Reason
from core.ports import telemetry as instruments
from core.ports.repository import PaymentRepository, RequestKey
from core.ports.telemetry import Instruments
from core.service.answer_commit import AnswerWriter
from core.service.commit_retry import COMMIT_RETRY_DELAYS_S
from core.service.payment_changes import payment_change
from core.service.requests import Dispatch, Encoder, Reply
from router import Router

log = logging.getLogger(__name__)

T = TypeVar("T")


class ChannelCalls:
    """Makes recorded channel attempts and commits their answers with the stored reply."""

    def __init__(
        self,
        *,
        repository: PaymentRepository,
        router: Router,
        clock: Callable[[], datetime],
        telemetry: Instruments,
        answer_writer: AnswerWriter | None,
    ) -> None:
        """``answer_writer``: group-commits new payments' answers; None: never."""
        self._repo = repository
        self._router = router
        self._clock = clock
        self._telemetry = telemetry
        self._answer_writer = answer_writer

    async def call(self, dispatch: Dispatch[T]) -> ChannelResult:
        """Make the recorded attempt in its own span, and count how it ended."""
        attempt = dispatch.attempt
        with self._telemetry.stage(
            f"channel.{attempt.operation.value}",
            **{instruments.CHANNEL: attempt.channel, instruments.ATTEMPT_ID: attempt.id},
        ) as span:
            started = time.perf_counter()
            result = await self._router.execute(attempt, dispatch.card)
            elapsed = time.perf_counter() - started
            span.set_attribute(instruments.OUTCOME, result.outcome.value)
        self._telemetry.channel_called(
            attempt.channel,
            attempt.operation.value,
            result.outcome.value,
            elapsed,
            reason=result.failure.code if result.failure else "",
        )
        if result.outcome is AttemptOutcome.UNKNOWN:
            # Expected (a timeout, a reset, a 5xx): one WARNING line, no traceback.
            log.warning(
                "attempt %s on %s ended unknown (%s); payment %s awaits a status query",
                attempt.id,
                attempt.channel,
                result.failure.code if result.failure else "no answer",
                attempt.payment_id,
            )
        return result

    async def answer_in_batch(
        self, key: RequestKey, encoder: Encoder[T], dispatch: Dispatch[T], result: ChannelResult
    ) -> Reply | None:
        """Transaction 2 of a new payment, group-committed; None: take the ordinary path."""
        writer = self._answer_writer
        if writer is None:
            return None
        with self._telemetry.stage("db.commit"):
            try:
                return await writer.answer(key, encoder, dispatch, result, self._clock())
            except BatchFailedError:
                # Rolled back, or committed with only the acknowledgement lost: the
                # stored reply tells which. None (or unknown yet): the ordinary path
                # applies the answer; it finds the payment as it is, and retries
                # while PostgreSQL is away, checking for a stored reply again.
                return await self._committed_reply(key)

    async def commit_answer(
        self,
        key: RequestKey,
        encoder: Encoder[T],
        dispatch: Dispatch[T],
        result: ChannelResult,
    ) -> Reply | Dispatch[T]:
        """Transaction 2: apply the channel's answer, retrying while PostgreSQL is unreachable.

        The answer exists only in memory until this commits; losing it would
        leave the payment to a status query. So a brief database outage is
        waited out (``COMMIT_RETRY_WINDOW_S``) rather than given up at once.
        Returns the reply, or the next channel's call after a failover.
        """
        for delay in COMMIT_RETRY_DELAYS_S:
            try:
                return await self._apply_channel_answer(key, encoder, dispatch, result)
            except PaycoreError as error:
                if error.reason is not Reason.SERVICE_UNAVAILABLE:
                    raise
                log.warning("commit of attempt %s failed; retrying", dispatch.attempt.id)
                await asyncio.sleep(delay)
                # The commit may have happened with only its acknowledgement lost (the
                # connection dropped after COMMIT, or while it went back to the pool):
                # then the stored reply is the answer, and applying the channel's answer
                # again would find the attempt settled (found by tests/faults).
                committed = await self._committed_reply(key)
                if committed is not None:
                    return committed
        return await self._apply_channel_answer(key, encoder, dispatch, result)

    async def _committed_reply(self, key: RequestKey) -> Reply | None:
        """The request's stored reply if it is completed; None if not, or unknown yet."""
        try:
            stored = await self._repo.find_request(key)
        except PaycoreError as error:
            if error.reason is not Reason.SERVICE_UNAVAILABLE:
                raise
            return None
        if stored is None or not stored.completed:
            return None
        return Reply(stored.reply_ok, stored.reply)

    async def _apply_channel_answer(
        self,
        key: RequestKey,
        encoder: Encoder[T],
        dispatch: Dispatch[T],
        result: ChannelResult,
    ) -> Reply | Dispatch[T]:
        at = self._clock()
        with self._telemetry.stage("db.commit"):
            return await self._store_channel_answer(key, encoder, dispatch, result, at)

    async def _store_channel_answer(
        self,
        key: RequestKey,
        encoder: Encoder[T],
        dispatch: Dispatch[T],
        result: ChannelResult,
        at: datetime,
    ) -> Reply | Dispatch[T]:
        async with self._repo.transaction() as tx:
            await tx.attempts.complete(key.merchant_id, dispatch.attempt.id, result, at)
            current = await tx.payments.lock(key.merchant_id, dispatch.attempt.payment_id)
            if current is None:  # the row was written by transaction 1 and is never deleted
                raise LookupError(f"payment {dispatch.attempt.payment_id} vanished")
            if not lifecycle.awaits_answer(current, dispatch.attempt):
                # A status query or a notification settled the attempt while this
                # request waited (its commit retried past status_query.started_grace_s):
                # the channel's answer is in the payment already, and applying it twice
                # could move money twice. Roll back; the caller retries, and a
                # CreatePayment retry then resumes with the payment as settled.
                raise PaycoreError(Reason.REQUEST_IN_PROGRESS, request_id=key.request_id)
            if result.not_processed and dispatch.failover is not None:
                rerouted = dispatch.failover(current, at)
                if rerouted is not None:
                    moved, following = rerouted
                    await tx.payments.save(payment_change(current, moved))
                    await tx.attempts.record(following.attempt, at)
                    return following
            updated, value = dispatch.complete(current, result, at)
            if isinstance(value, PaycoreError):
                body, ok = encoder.failure(value), False
            else:
                body, ok = encoder.success(value), True
            # The reply is stored first so that it rides in the payment's own
            # statement (core/storage/payments.py); both commit together, with the
            # money the answer moved (a capture, a refund) and the events it announces.
            await tx.requests.complete(key, ok, body, updated.id, at)
            await tx.payments.save(payment_change(current, updated))
        return Reply(ok, body)
