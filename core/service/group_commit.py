"""Group commit of new payments' first transactions (issue 18 item 1).

A CreatePayment's first transaction (claim the request_id, store the payment,
its attempt and its events) decides nothing from what PostgreSQL holds once the
gate has admitted it as new: so its plan runs first, against ``PlannedWrites``
(which records the writes instead of sending them), and the writes of every
request that is ready in the same turn of the event loop go to PostgreSQL
together, as one statement and one commit (``ClaimWriter``). A plan that needs
to read or write anything else (a card token, a risk list not cached, a hold
for review) raises ``NotBatchableError`` and its request takes the ordinary path.

Per request, the outcome is one of:
- claimed: committed with its batch; the executor goes on (channel call...);
- not claimed (the request_id is taken, or appears twice in one batch): only
  this request is left out; the ordinary path claims again and replays,
  refuses or waits as that claim decides;
- the batch failed: nothing of the batch was written; every request of it
  takes the ordinary path, which runs (and raises) on its own.

A reply still means committed: a request claimed here goes on only after its
batch's statement returned, i.e. committed (``synchronous_commit`` on).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NoReturn, Protocol, TypeVar, cast

from core.batching import Batcher, BatchFailedError
from core.domain.attempt import Attempt
from core.domain.errors import PaycoreError
from core.domain.payment import AttemptRecord, Payment, RoutingRecord
from core.ports.repository import (
    NewClaim,
    PaymentChange,
    PaymentTransaction,
    RequestKey,
    WrittenPayment,
)
from core.service.requests import Dispatch, Encoder, Plan, Reply, RequestIdentity

log = logging.getLogger(__name__)

T = TypeVar("T")


class NotBatchableError(Exception):
    """The plan needs more than recorded writes: run the request the ordinary way."""


class ClaimBatches(Protocol):
    """Storage that commits many new claims in one statement."""

    async def commit_new_claims(
        self, claims: Sequence[NewClaim], expired_before: datetime
    ) -> list[int | None] | None:
        """Each claim's payment row version if claimed (and committed), else None.

        None instead of the list: not supported here.
        """
        ...


class PlannedWrites:
    """A PaymentTransaction that records a new payment's writes instead of running them.

    Only what a new payment's plan writes is recorded (the payment, its
    attempt, its routing, which rides in the payment's row); any other call
    raises NotBatchableError. Nothing is sent anywhere, so dropping it leaves nothing.
    """

    def __init__(self) -> None:
        self.change: PaymentChange | None = None
        self.attempt: Attempt | None = None
        self.payments = _PlannedPayments(self)
        self.attempts = _PlannedAttempts(self)

    @property
    def payment(self) -> Payment | None:
        """The new payment recorded, if any."""
        return None if self.change is None else self.change.after

    def __getattr__(self, name: str) -> Any:
        # Every other repository of the unit of work (and ``connection``): not batchable.
        _refuse()


class _PlannedPayments:
    """``PlannedWrites.payments``: records the new payment; refuses anything else."""

    def __init__(self, writes: PlannedWrites) -> None:
        self._writes = writes

    async def save(self, change: PaymentChange) -> None:
        """Record the new payment and its events (one per plan; none that posts to the ledger)."""
        if self._writes.change is not None or change.before is not None or change.postings:
            _refuse()
        self._writes.change = change

    async def record_routing(
        self, merchant_id: str, payment_id: str, routing: RoutingRecord
    ) -> None:
        """Nothing to do when the recorded payment's row carries this routing."""
        payment = self._writes.payment
        if payment is None or payment.id != payment_id or payment.routing != routing:
            _refuse()

    def __getattr__(self, name: str) -> Any:
        # Locks, saves, reads: not batchable.
        _refuse()


class _PlannedAttempts:
    """``PlannedWrites.attempts``: records the new payment's attempt; refuses anything else."""

    def __init__(self, writes: PlannedWrites) -> None:
        self._writes = writes

    async def record(self, attempt: Attempt, at: datetime) -> None:
        """Record the attempt (one per plan, of the recorded payment)."""
        writes = self._writes
        if (
            writes.attempt is not None
            or writes.payment is None
            or attempt.payment_id != writes.payment.id
        ):
            _refuse()
        writes.attempt = attempt

    def __getattr__(self, name: str) -> Any:
        # Completing an attempt: not batchable.
        _refuse()


def _refuse() -> NoReturn:
    raise NotBatchableError


class ClaimWriter:
    """Collects new claims and commits those ready in one loop turn as one statement.

    The batching (when a batch leaves, how many at once) is ``Batcher``'s
    (core/batching.py); each statement takes a pooled connection only
    for itself, never across a request's awaits.
    """

    def __init__(
        self, storage: ClaimBatches, expired_before: Callable[[datetime], datetime]
    ) -> None:
        self._storage = storage
        self._expired_before = expired_before
        self._keys: set[tuple[str, str, str]] = set()
        self._batcher: Batcher[NewClaim, int | None] = Batcher(self._commit, leaving=self._left)

    @property
    def batches(self) -> int:
        """Statements sent (for benchmarks and tests)."""
        return self._batcher.batches

    @property
    def claims(self) -> int:
        """Claims sent in them."""
        return self._batcher.items

    async def claim_planned(
        self,
        key: RequestKey,
        request: RequestIdentity,
        encoder: Encoder[T],
        plan: Callable[[PaymentTransaction, datetime], Awaitable[Plan[T]]],
        *,
        now: datetime,
        lease_s: float,
    ) -> tuple[str, Reply | Dispatch[T]] | None:
        """Transaction 1 of a new payment, group-committed; None: take the ordinary path.

        The plan runs first, on recorded writes; the claim and the writes then
        commit together with other requests' (``claim``). Nothing is written
        unless the claim succeeds, so falling back to the ordinary path (which
        plans again, after its own claim) is always safe. Returns the payment's
        id and its reply, or the channel call to make, as the ordinary path does;
        that call carries the payment as committed (``Dispatch.written``), so its
        answer may be group-committed in one statement (core/service/answer_commit.py).
        """
        writes = PlannedWrites()
        try:
            planned = await plan(cast(PaymentTransaction, writes), now)
        except Exception:
            return None
        change, attempt, dispatch = writes.change, writes.attempt, planned.dispatch
        if change is None or change.after.id != planned.resource_id:
            return None
        payment = change.after
        if (dispatch.attempt if dispatch is not None else None) is not attempt:
            return None
        answered: Reply | None = None
        if dispatch is None:
            assert planned.result is not None
            answered = Reply(True, encoder.success(planned.result))
        claim = NewClaim(
            key=key,
            fingerprint=request.fingerprint,
            at=now,
            lease_until=now + timedelta(seconds=lease_s),
            change=change,
            attempt=attempt,
            reply=None if answered is None else (answered.ok, answered.body),
        )
        # Cancelled here (only at shutdown: the request's task is shielded from its
        # caller), the batch still commits or fails as a whole; if it committed, the
        # request is left "in progress" with its attempt never sent, as by a crash
        # between the two transactions, and a status query settles it (see ``claim``).
        try:
            version = await self._submit(claim)
        except BatchFailedError:
            return None  # its batch failed: nothing of it was written
        if version is None:
            return None  # not claimed: nothing of it was written
        if answered is not None:
            return payment.id, answered
        assert dispatch is not None
        if attempt is None or payment.attempts:
            return payment.id, dispatch
        # The payment as a read returns it now (with its attempt, started): what
        # the ordinary path's second transaction would start from.
        started = AttemptRecord(
            id=attempt.id,
            operation=attempt.operation.value,
            channel=attempt.channel,
            amount=attempt.amount,
            outcome="started",  # channel_attempts.outcome until an answer is recorded
            created_at=now,
            channel_reference=attempt.channel_reference,
            refund_id=attempt.refund_id,
        )
        written = WrittenPayment(dataclasses.replace(payment, attempts=(started,)), version)
        return payment.id, dataclasses.replace(dispatch, written=written)

    async def claim(self, claim: NewClaim) -> bool | None:
        """Commit ``claim`` with its batch: True claimed, False not claimed, None batch failed.

        Cancellation: the executor's request task is shielded from its caller,
        so this is cancelled only at shutdown (``RequestExecutor.drain``). The
        batch does not depend on this await: it commits or fails as a whole
        either way. If it committed, the request stays "in progress" with its
        attempt "started" and never sent, exactly as after a crash between the
        two transactions: a status query settles the attempt and a retry then
        gets the payment as it ended (``settled_payment``).
        """
        try:
            return await self._submit(claim) is not None
        except BatchFailedError:
            return None

    async def _submit(self, claim: NewClaim) -> int | None:
        """``claim``'s payment row version once committed, None if not claimed.

        Raises BatchFailedError when its batch failed (the cause re-raised
        instead when PostgreSQL said "not now", see below).
        """
        key = (claim.key.merchant_id, claim.key.operation, claim.key.request_id)
        if key in self._keys:
            return None  # twice in one batch: ON CONFLICT may not touch a row twice
        self._keys.add(key)
        try:
            return await self._batcher.submit(claim)
        except BatchFailedError as failed:
            if isinstance(failed.cause, PaycoreError):
                # PostgreSQL said "not now" (a cancelled statement, a lock or
                # statement timeout, a read-only standby...): the answer the ordinary
                # path would give, and nothing was sent to a channel yet, so the
                # request answers it (UNAVAILABLE, retryable) instead of claiming
                # again, which would only wait on the same lock.
                raise failed.cause from None
            raise

    def _left(self, claims: list[NewClaim]) -> None:
        for claim in claims:
            self._keys.discard((claim.key.merchant_id, claim.key.operation, claim.key.request_id))

    async def _commit(self, claims: list[NewClaim]) -> list[int | None]:
        # If the statement fails, it wrote nothing (a statement is atomic). If
        # only its acknowledgement was lost (PostgreSQL gone after COMMIT), the
        # ordinary path's claim finds the records in progress and the request
        # is treated as one interrupted by a crash (see ``claim``).
        outcomes = await self._storage.commit_new_claims(
            claims, self._expired_before(min(claim.at for claim in claims))
        )
        if outcomes is None:
            raise NotBatchableError
        return outcomes
