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

import asyncio
import contextvars
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NoReturn, Protocol

from core.domain.attempt import Attempt
from core.domain.payment import Payment, RoutingRecord
from core.ledger.postings import postings_for
from core.storage.repository import NewClaim

log = logging.getLogger(__name__)

_MAX_BATCH = 128
"""Requests per statement at most; more wait for the next one (the same loop turn)."""

_MAX_IN_FLIGHT = 2
"""Statements under way at once; claims arriving meanwhile wait and go together."""


_OWN_CONTEXT = contextvars.Context()
"""The flushes' context: not the request's that happened to schedule one (its span, its
pool checkouts), since the statement serves every request of the batch."""


class NotBatchableError(Exception):
    """The plan needs more than recorded writes: run the request the ordinary way."""


class ClaimBatches(Protocol):
    """Storage that commits many new claims in one statement."""

    async def commit_new_claims(
        self, claims: Sequence[NewClaim], expired_before: datetime
    ) -> list[bool] | None:
        """Whether each claim was claimed (and committed); None: not supported here."""
        ...


class PlannedWrites:
    """A PaymentTransaction that records a new payment's writes instead of running them.

    Only what a new payment's plan writes is recorded (the payment, its
    attempt, its routing, which rides in the payment's row); any other call
    raises NotBatchableError. Nothing is sent anywhere, so dropping it leaves nothing.
    """

    def __init__(self) -> None:
        self.payment: Payment | None = None
        self.attempt: Attempt | None = None

    async def insert_payment(self, payment: Payment) -> None:
        """Record the new payment (one per plan; none that posts to the ledger)."""
        if self.payment is not None or postings_for(None, payment):
            self._refuse()
        self.payment = payment

    async def record_attempt(self, attempt: Attempt, at: datetime) -> None:
        """Record the attempt (one per plan, of the recorded payment)."""
        if (
            self.attempt is not None
            or self.payment is None
            or attempt.payment_id != self.payment.id
        ):
            self._refuse()
        self.attempt = attempt

    async def record_routing(
        self, merchant_id: str, payment_id: str, routing: RoutingRecord
    ) -> None:
        """Nothing to do when the recorded payment's row carries this routing."""
        payment = self.payment
        if payment is None or payment.id != payment_id or payment.routing != routing:
            self._refuse()

    def __getattr__(self, name: str) -> Any:
        # Every other PaymentTransaction method (and ``connection``): not batchable.
        self._refuse()

    @staticmethod
    def _refuse() -> NoReturn:
        raise NotBatchableError


class ClaimWriter:
    """Collects new claims and commits those ready in one loop turn as one statement.

    The first claim of a turn schedules the flush with ``call_soon``: it runs
    once the callbacks already ready have run, so when the process is idle a
    claim waits for nothing. Under load, while ``_MAX_IN_FLIGHT`` statements
    are under way, claims queue and leave together as soon as one of them
    returns: the batch grows with the load (the ~1 ms window of issue 18 is
    the statement's own time). Each statement takes a pooled connection only
    for itself, never across a request's awaits.
    """

    def __init__(
        self, storage: ClaimBatches, expired_before: Callable[[datetime], datetime]
    ) -> None:
        self._storage = storage
        self._expired_before = expired_before
        self._waiting: list[tuple[NewClaim, asyncio.Future[bool]]] = []
        self._keys: set[tuple[str, str, str]] = set()
        self._scheduled = False
        self._flushes: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Statements sent (for benchmarks and tests)."""
        self.claims = 0
        """Claims sent in them."""

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
        key = (claim.key.merchant_id, claim.key.operation, claim.key.request_id)
        if key in self._keys:
            return False  # twice in one batch: ON CONFLICT may not touch a row twice
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((claim, future))
        self._keys.add(key)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush, context=_OWN_CONTEXT)
        try:
            return await future
        except NotBatchableError:
            return None

    def _flush(self) -> None:
        self._scheduled = False
        if len(self._flushes) >= _MAX_IN_FLIGHT:
            return  # the statement returning first flushes what waits (``_commit``)
        batch, self._waiting = self._waiting[:_MAX_BATCH], self._waiting[_MAX_BATCH:]
        for claim, _ in batch:
            self._keys.discard((claim.key.merchant_id, claim.key.operation, claim.key.request_id))
        if self._waiting:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush, context=_OWN_CONTEXT)
        if not batch:
            return
        task = asyncio.ensure_future(self._commit(batch))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _commit(self, batch: list[tuple[NewClaim, asyncio.Future[bool]]]) -> None:
        claims = [claim for claim, _ in batch]
        outcomes: list[bool] | None = None
        try:
            outcomes = await self._storage.commit_new_claims(
                claims, self._expired_before(min(claim.at for claim in claims))
            )
        except Exception as error:
            # The statement failed: it wrote nothing (a statement is atomic). If
            # only its acknowledgement was lost (PostgreSQL gone after COMMIT),
            # the ordinary path's claim finds the records in progress and the
            # request is treated as one interrupted by a crash (see ``claim``).
            log.info("group commit of %d claims failed: %r", len(batch), error)
        finally:
            # Also when this task is cancelled (the loop closing): every waiting
            # request learns that its batch is not known to have committed.
            self.batches += 1
            self.claims += len(batch)
            this = asyncio.current_task()
            if this is not None:
                self._flushes.discard(this)
            if self._waiting and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush, context=_OWN_CONTEXT)
            for index, (_, future) in enumerate(batch):
                if future.done():  # its request was cancelled (shutdown)
                    continue
                if outcomes is None:
                    future.set_exception(NotBatchableError())
                else:
                    future.set_result(outcomes[index])
