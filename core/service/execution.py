"""The idempotent request engine: how every mutating request runs, once.

Request path (see ``RequestExecutor.execute``)::

    gate: rate limit + request_id marker          (one Redis round trip, core/redis/request_gate.py)
      ├─ marker seen: answer from PostgreSQL's record of the request_id
      └─ new (or Redis unavailable):
    claim request_id ─┬─ replay / in progress / mismatch      (transaction 1)
                      └─ plan: decide with core.domain.lifecycle and write
                           ├─ no channel needed: store + reply, commit
                           └─ mark operation in flight + record attempt, commit
    call the channel (no transaction, no connection held)
    apply the channel's answer + store reply, commit             (transaction 2)

The reply of every request that started executing (success or business
error) is stored with the change it reports, so a retry with the same
request_id replays it exactly; see core/storage/repository.py. Redis only
makes repeats cheaper: PostgreSQL's unique request record is the guarantee.
Services (payments, the card vault) supply the ``plan``; this module owns
the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from opentelemetry import trace

from core.domain import clock as wall_clock
from core.domain import lifecycle
from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.errors import PaycoreError, Reason
from core.gate import Admission, GateClaim, RequestGate, Rider, RpcClass
from core.service.answer_commit import AnswerBatches, AnswerWriter
from core.service.batching import BatchFailedError
from core.service.commit_retry import COMMIT_RETRY_DELAYS_S
from core.service.group_commit import ClaimBatches, ClaimWriter

# The request's types live in core/service/requests.py (shared with the group
# commits); services and handlers import them from here.
from core.service.requests import Dispatch, Encoder, Plan, Reply, RequestIdentity, Resume
from core.storage.repository import (
    ClaimStatus,
    PaymentRepository,
    PaymentTransaction,
    RequestKey,
)
from core.telemetry import Telemetry, instruments
from router import Router

__all__ = [
    "Dispatch",
    "Encoder",
    "ExecutorSettings",
    "Plan",
    "Reply",
    "RequestExecutor",
    "RequestIdentity",
    "Resume",
    "annotate_resource",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

_RESUME_AFTER_S = 2.0
"""Age of an "in progress" request record after which a repeat checks whether it died."""

_CANCEL_WAIT_S = 1.0
"""At shutdown, how long cancelled operations may take to let their connections go."""


def annotate_resource(payment_id: str) -> None:
    """Name the payment on the RPC's span (the current span when called outside a stage)."""
    trace.get_current_span().set_attribute(instruments.PAYMENT_ID, payment_id)


@dataclass(frozen=True, slots=True)
class ExecutorSettings:
    """How long request_ids are leased and remembered."""

    request_lease_s: float = 60.0
    idempotency_ttl_s: int = 24 * 3600


class RequestExecutor:
    """Runs mutating requests exactly once per request_id; see the module docstring."""

    def __init__(
        self,
        *,
        repository: PaymentRepository,
        gate: RequestGate,
        router: Router,
        settings: ExecutorSettings,
        clock: Callable[[], datetime] = wall_clock.now,
        telemetry: Telemetry | None = None,
        claims: ClaimBatches | None = None,
        answers: AnswerBatches | None = None,
    ) -> None:
        """``claims``, ``answers``: storage that group-commits new payments' first
        transactions (core/service/group_commit.py) and their channel answers
        (core/service/answer_commit.py); without them every request runs on its own."""
        self._repo = repository
        self._gate = gate
        self._router = router
        self._settings = settings
        self._clock = clock
        self._telemetry = telemetry or Telemetry.disabled()
        self._in_flight: set[asyncio.Task[Reply]] = set()
        ttl = timedelta(seconds=settings.idempotency_ttl_s)
        self.claim_writer = None if claims is None else ClaimWriter(claims, lambda at: at - ttl)
        self.answer_writer = None if answers is None else AnswerWriter(answers)

    async def drain(self, within_s: float) -> None:
        """Wait (up to ``within_s`` seconds) for operations whose callers went away to commit.

        Whatever is still running then is cancelled (shutdown has no more time
        to give): a transaction cut short rolls back, so its request left
        nothing and its retry runs afresh; a channel call already recorded
        stays "started" and a status query settles it, exactly as after a crash.
        """
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=within_s)
        left = set(self._in_flight)
        if not left:
            return
        log.warning("cancelling %d operations still running after the drain", len(left))
        for task in left:
            task.cancel()
        # Cancelling a query waits for PostgreSQL to acknowledge it; a connection
        # that cannot is cut when the pool closes (core/storage/pool.py).
        await asyncio.wait(left, timeout=_CANCEL_WAIT_S)

    async def execute(
        self,
        key: RequestKey,
        request: RequestIdentity,
        encoder: Encoder[T],
        plan: Callable[[PaymentTransaction, datetime], Awaitable[Plan[T]]],
        resume: Resume[T] | None = None,
        *,
        rider: Rider | None = None,
        batch: bool = False,
    ) -> Reply:
        """Run ``plan`` once per request_id and reply; repeats replay the stored reply.

        ``resume`` covers a request cut short by a crash after it sent the
        channel call (its record stays "in progress"): once the channel's
        answer reached the resource by another way (status query, bank
        notification), a retry gets the resource as it now is, and that
        answer is stored as the request's reply. Without ``resume`` such a
        retry gets REQUEST_IN_PROGRESS until the record expires. ``rider``
        goes along in the gate's round trip (a new payment's risk velocity).
        ``batch``: ``plan`` is a new payment's, which may run before the claim
        and be group-committed (core/service/group_commit.py).
        """
        # Shielded: if the caller cancels (deadline, disconnect, shutdown), the
        # operation still runs to its commit. Abandoning it between "attempt
        # recorded" and "answer committed" would leave money in an unclear
        # state for a status query to sort out; finishing it means the caller's
        # retry simply replays the committed reply.
        # The loop's create_task directly: ensure_future is the same, after Python-level
        # checks of what it was given (a coroutine, always, here).
        task = asyncio.get_running_loop().create_task(
            self._execute_to_commit(key, request, encoder, plan, resume, rider=rider, batch=batch)
        )
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        return await asyncio.shield(task)

    async def _execute_to_commit(
        self,
        key: RequestKey,
        request: RequestIdentity,
        encoder: Encoder[T],
        plan: Callable[[PaymentTransaction, datetime], Awaitable[Plan[T]]],
        resume: Resume[T] | None,
        *,
        rider: Rider | None,
        batch: bool,
    ) -> Reply:
        # One Redis round trip: spend the rate limit and look for the request_id
        # (and, for a new payment, read and count its risk velocity).
        claim = GateClaim(key.operation, key.request_id, request.fingerprint)
        with self._telemetry.stage("gate") as span:
            admission = await self._gate.admit(key.merchant_id, RpcClass.WRITES, claim, rider)
            span.set_attribute(instruments.ADMISSION, admission.value)
        if admission in (Admission.SEEN, Admission.CONFLICT):
            return await self._answer_repeat(
                key, request, admission, encoder=encoder, plan=plan, resume=resume
            )
        try:
            return await self._claim_and_execute(key, request, encoder, plan, resume, batch=batch)
        except Exception:
            # Nothing of this request committed (or its record says "in
            # progress"): drop the marker so the caller's retry reaches
            # PostgreSQL instead of waiting out the marker's lease.
            if admission is Admission.NEW:
                await self._gate.release(key.merchant_id, claim)
            raise

    async def _answer_repeat(
        self,
        key: RequestKey,
        request: RequestIdentity,
        admission: Admission,
        *,
        encoder: Encoder[T],
        plan: Callable[[PaymentTransaction, datetime], Awaitable[Plan[T]]],
        resume: Resume[T] | None,
    ) -> Reply:
        """A request_id the gate saw moments ago: PostgreSQL's record says what to answer.

        The gate's marker is only a hint. After Redis lost markers (flush,
        failover, expiry) another request may hold this request_id's marker
        while PostgreSQL holds this request's own stored reply, so a CONFLICT
        is checked against PostgreSQL too before it refuses anything.
        """
        stored = await self._repo.find_request(key)
        fresh_after = self._clock().timestamp() - self._settings.idempotency_ttl_s
        if stored is not None and stored.created_at.timestamp() >= fresh_after:
            if stored.fingerprint != request.fingerprint:
                self._telemetry.request_repeated("conflict")
                raise PaycoreError(
                    Reason.IDEMPOTENCY_KEY_REUSED,
                    request_id=key.request_id,
                    operation=key.operation,
                )
            if stored.completed:
                self._telemetry.request_repeated("replay")
                return Reply(stored.reply_ok, stored.reply)
        elif admission is Admission.CONFLICT:
            # Nothing committed yet, and a different request holds the marker.
            self._telemetry.request_repeated("conflict")
            raise PaycoreError(
                Reason.IDEMPOTENCY_KEY_REUSED, request_id=key.request_id, operation=key.operation
            )
        if stored is not None and resume is not None and self._may_have_died(stored.created_at):
            # Still "in progress" a while after it began: perhaps its executor
            # died after the channel call. The claim (a transaction) tells, and
            # resumes it if so.
            return await self._claim_and_execute(key, request, encoder, plan, resume)
        # This very request is still executing (or an expired record of an
        # older use of the id is about to be replaced by it).
        self._telemetry.request_repeated("in_progress")
        raise PaycoreError(Reason.REQUEST_IN_PROGRESS, request_id=key.request_id)

    async def _claim_and_execute(
        self,
        key: RequestKey,
        request: RequestIdentity,
        encoder: Encoder[T],
        plan: Callable[[PaymentTransaction, datetime], Awaitable[Plan[T]]],
        resume: Resume[T] | None,
        *,
        batch: bool = False,
    ) -> Reply:
        with self._telemetry.stage("db.claim"):
            batched = None
            writer = self.claim_writer
            if batch and writer is not None:
                batched = await writer.claim_planned(
                    key,
                    request,
                    encoder,
                    plan,
                    now=self._clock(),
                    lease_s=self._settings.request_lease_s,
                )
            if batched is None:
                batched = await self._claim_and_plan(key, request, encoder, plan, resume)
            resource_id, claimed = batched
        if resource_id:
            annotate_resource(resource_id)  # on the RPC's span, now current again
        if isinstance(claimed, Reply):
            return claimed
        dispatch = claimed

        # Committed: the payment shows the operation in flight and the attempt
        # row exists. If this process dies from here until the next commit, the
        # request_id stays in progress and the attempt stays 'started'; the
        # channel is then asked what happened (status query), never called a
        # second time for the same attempt.
        result = await self._call_channel(dispatch)
        committed: Reply | Dispatch[T] | None = None
        if batch:
            committed = await self._answer_in_batch(key, encoder, dispatch, result)
        if committed is None:
            committed = await self._commit_channel_answer(key, encoder, dispatch, result)
        while isinstance(committed, Dispatch):
            # Failover: the channel certainly did nothing, and the next
            # channel's attempt is recorded and committed; same rules again.
            dispatch = committed
            result = await self._call_channel(dispatch)
            committed = await self._commit_channel_answer(key, encoder, dispatch, result)
        return committed

    async def _claim_and_plan(
        self,
        key: RequestKey,
        request: RequestIdentity,
        encoder: Encoder[T],
        plan: Callable[[PaymentTransaction, datetime], Awaitable[Plan[T]]],
        resume: Resume[T] | None,
    ) -> tuple[str, Reply | Dispatch[T]]:
        """Transaction 1: claim the request_id and decide.

        Returns the payment's id (when known) and a Reply, or the channel call to make.
        """
        settings = self._settings
        now = self._clock()
        async with self._repo.transaction() as tx:
            claim = await tx.requests.claim(
                key, request.fingerprint, now, settings.request_lease_s, settings.idempotency_ttl_s
            )
            if claim.status is ClaimStatus.COMPLETED:
                self._telemetry.request_repeated("replay")
                return claim.resource_id, Reply(claim.reply_ok, claim.reply)
            if claim.status is ClaimStatus.MISMATCH:
                self._telemetry.request_repeated("conflict")
                raise PaycoreError(
                    Reason.IDEMPOTENCY_KEY_REUSED,
                    request_id=key.request_id,
                    operation=key.operation,
                )
            if claim.status is ClaimStatus.IN_PROGRESS:
                resumed = await self._resumed(
                    tx,
                    key,
                    claim.resource_id,
                    claim.created_at,
                    encoder=encoder,
                    resume=resume,
                    now=now,
                )
                if resumed is not None:
                    return claim.resource_id, resumed
                self._telemetry.request_repeated("in_progress")
                raise PaycoreError(Reason.REQUEST_IN_PROGRESS, request_id=key.request_id)
            try:
                planned = await plan(tx, now)
            except PaycoreError as error:
                if error.retryable:
                    # "Busy, try again" is not this request's outcome: roll
                    # the claim back with everything else so the retry runs.
                    raise
                # The request started executing, so its business error is its
                # reply (Stripe's rule): stored, and replayed on retry. A
                # savepoint is not needed: plan() raises before writing.
                trace.get_current_span().set_attribute(instruments.ERROR_REASON, error.reason.name)
                body = encoder.failure(error)
                await tx.requests.complete(key, False, body, "", now)
                return "", Reply(False, body)
            if planned.dispatch is None:
                assert planned.result is not None
                body = encoder.success(planned.result)
                await tx.requests.complete(key, True, body, planned.resource_id, now)
                return planned.resource_id, Reply(True, body)
            await tx.requests.set_resource(key, planned.resource_id)
            return planned.resource_id, planned.dispatch

    def _may_have_died(self, claimed_at: datetime | None) -> bool:
        """Whether a request claimed at ``claimed_at`` may have lost its executor.

        Younger records are surely being executed: a burst of repeats of a
        request still in its first transaction would otherwise each hold a
        connection waiting on that request's row locks, and starve the pool
        the request itself needs to finish.
        """
        if claimed_at is None:
            return False
        return claimed_at.timestamp() <= self._clock().timestamp() - _RESUME_AFTER_S

    async def _resumed(
        self,
        tx: PaymentTransaction,
        key: RequestKey,
        resource_id: str,
        claimed_at: datetime | None,
        *,
        encoder: Encoder[T],
        resume: Resume[T] | None,
        now: datetime,
    ) -> Reply | None:
        """The reply of a request whose executor died, once its resource is settled.

        A live executor clears the resource's operation in flight and completes
        the request in one transaction (transaction 2), so "request in progress
        but resource settled" can only mean its executor is gone and a status
        query or a notification applied the channel's answer. ``resume`` reads
        the resource under its row lock, so it cannot race that resolution.
        """
        if resume is None or not resource_id or not self._may_have_died(claimed_at):
            return None
        value = await resume(tx, key.merchant_id, resource_id)
        if value is None:
            return None
        body = encoder.success(value)
        await tx.requests.complete(key, True, body, resource_id, now)
        self._telemetry.request_repeated("resumed")
        log.info("request %s resumed after its executor died: %s", key.request_id, resource_id)
        return Reply(True, body)

    async def _call_channel(self, dispatch: Dispatch[T]) -> ChannelResult:
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

    async def _answer_in_batch(
        self, key: RequestKey, encoder: Encoder[T], dispatch: Dispatch[T], result: ChannelResult
    ) -> Reply | None:
        """Transaction 2 of a new payment, group-committed; None: take the ordinary path."""
        writer = self.answer_writer
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

    async def _commit_channel_answer(
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
                    await tx.payments.save(moved)
                    await tx.attempts.record(following.attempt, at)
                    return following
            updated, value = dispatch.complete(current, result, at)
            if isinstance(value, PaycoreError):
                body, ok = encoder.failure(value), False
            else:
                body, ok = encoder.success(value), True
            # The reply is stored first so that it rides in the payment's own
            # statement (core/storage/payments.py); both commit together.
            await tx.requests.complete(key, ok, body, updated.id, at)
            await tx.payments.save(updated)
        return Reply(ok, body)
