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
request_id replays it exactly; see core/ports/repository.py. Redis only
makes repeats cheaper: PostgreSQL's unique request record is the guarantee.
Services (payments, the card vault) supply the ``plan``; this module owns
the rest, in steps: the claim and the plan (core/service/request_claim.py),
the channel call and its answer (core/service/channel_call.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from opentelemetry import trace

from core.domain import clock as wall_clock
from core.domain.errors import PaycoreError, Reason
from core.gate import Admission, GateClaim, RequestGate, Rider, RpcClass
from core.ports import telemetry as instruments
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.ports.telemetry import NO_INSTRUMENTS, Instruments
from core.service.answer_commit import AnswerBatches, AnswerWriter
from core.service.channel_call import ChannelCalls
from core.service.group_commit import ClaimBatches, ClaimWriter
from core.service.request_claim import RequestClaims

# The request's types live in core/service/requests.py (shared with the group
# commits); services and handlers import them from here.
from core.service.requests import Dispatch, Encoder, Plan, Reply, RequestIdentity, Resume
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
        telemetry: Instruments | None = None,
        claims: ClaimBatches | None = None,
        answers: AnswerBatches | None = None,
    ) -> None:
        """``claims``, ``answers``: storage that group-commits new payments' first
        transactions (core/service/group_commit.py) and their channel answers
        (core/service/answer_commit.py); without them every request runs on its own."""
        self._repo = repository
        self._gate = gate
        self._settings = settings
        self._clock = clock
        self._telemetry = telemetry = telemetry or NO_INSTRUMENTS
        self._in_flight: set[asyncio.Task[Reply]] = set()
        ttl = timedelta(seconds=settings.idempotency_ttl_s)
        self.claim_writer = None if claims is None else ClaimWriter(claims, lambda at: at - ttl)
        self.answer_writer = None if answers is None else AnswerWriter(answers)
        self._claims = RequestClaims(
            repository=repository,
            clock=clock,
            telemetry=telemetry,
            request_lease_s=settings.request_lease_s,
            idempotency_ttl_s=settings.idempotency_ttl_s,
        )
        self._calls = ChannelCalls(
            repository=repository,
            router=router,
            clock=clock,
            telemetry=telemetry,
            answer_writer=self.answer_writer,
        )

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
        if (
            stored is not None
            and resume is not None
            and self._claims.may_have_died(stored.created_at)
        ):
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
                batched = await self._claims.claim_and_plan(key, request, encoder, plan, resume)
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
        calls = self._calls
        result = await calls.call(dispatch)
        committed: Reply | Dispatch[T] | None = None
        if batch:
            committed = await calls.answer_in_batch(key, encoder, dispatch, result)
        if committed is None:
            committed = await calls.commit_answer(key, encoder, dispatch, result)
        while isinstance(committed, Dispatch):
            # Failover: the channel certainly did nothing, and the next
            # channel's attempt is recorded and committed; same rules again.
            dispatch = committed
            result = await calls.call(dispatch)
            committed = await calls.commit_answer(key, encoder, dispatch, result)
        return committed
