"""A 3-D Secure challenge's end: the customer completed or failed it, or it expired.

The completion comes from the customer's browser (core/callbacks/challenge_completion.py
verified its signature), so it may come twice, late, or race the expiry sweep.
It runs through the exactly-once executor keyed by the payment
(``CompleteChallenge``/<payment id>): the same result again replays the first
reply; a different result for the same challenge is refused; and the payment's
row lock with ``lifecycle.challenge_open`` makes whichever of completion and
expiry comes first the only one that changes anything.

A completed challenge goes on through the normal authorization path
(``Authorization.dispatch_authenticated``: risk already done, then routing and
the channel call carrying the authentication result).
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from collections.abc import Callable
from datetime import datetime

from core.domain import clock as wall_clock
from core.domain import lifecycle
from core.domain.authentication import Authentication, AuthenticationStatus
from core.domain.errors import PaycoreError, Reason
from core.domain.payment import Payment, PaymentState
from core.ports.authentications import ChallengeReads
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.service.card_vault import CardVault
from core.service.execution import Encoder, Plan, RequestExecutor, RequestIdentity
from core.service.payment_changes import payment_change
from core.service.payments.authorize import Authorization, settled_payment
from core.service.payments.steps import locked_payment, sweep_every

log = logging.getLogger(__name__)


class Completion(enum.Enum):
    """What a completion did, for the page that sent it."""

    APPLIED = "applied"
    """Applied now, or the same completion again: send the customer back."""
    CLOSED = "closed"
    """The challenge had ended otherwise (expired, canceled, another result): nothing changed."""
    UNKNOWN = "unknown"
    """No challenge for that payment."""
    BUSY = "busy"
    """Not applied now (rate limited, or the same completion still running): try again."""


_IN_PROGRESS_TRIES = 60
_IN_PROGRESS_PAUSE_S = 0.25
"""How long a repeated completion waits for the first one to be applied (15 s)."""

_ENCODER: Encoder[Payment] = Encoder(
    success=lambda payment: payment.state.value.encode(),
    failure=lambda error: error.reason.name.encode(),
)


class ChallengeCompletion:
    """Completes challenges, and cancels those left past their deadline."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        repository: PaymentRepository,
        reads: ChallengeReads,
        vault: CardVault,
        authorization: Authorization,
        sweep_interval_s: float = 1.0,
        clock: Callable[[], datetime] = wall_clock.now,
    ) -> None:
        self._executor = executor
        self._repository = repository
        self._reads = reads
        self._vault = vault
        self._authorization = authorization
        self._sweep_interval_s = sweep_interval_s
        self._clock = clock

    async def return_url(self, payment_id: str) -> str | None:
        """Where the customer of ``payment_id``'s challenge goes back (None: no challenge)."""
        record = await self._reads.challenge(payment_id)
        return None if record is None else record.return_url

    async def complete(self, payment_id: str, result: Authentication) -> Completion:
        """Apply the ACS's signed ``result`` to the challenge of ``payment_id`` (once)."""
        record = await self._reads.challenge(payment_id)
        if record is None:
            return Completion.UNKNOWN
        merchant_id = record.merchant_id
        vault, authorization = self._vault, self._authorization

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await locked_payment(tx, merchant_id, payment_id)
            if lifecycle.challenge_expired(payment, at):
                # Late: the deadline passed before the sweep got to it.
                canceled = lifecycle.abandon_challenge(payment, at)
                await _save(tx, payment, canceled)
                return Plan(payment_id, result=canceled)
            if not lifecycle.challenge_open(payment):
                return Plan(payment_id, result=payment)  # ended otherwise: changes nothing
            updated = lifecycle.complete_challenge(payment, result, at)
            if updated.state is PaymentState.DECLINED:
                await _save(tx, payment, updated)
                return Plan(payment_id, result=updated)
            card = None
            if record.card_token:
                _, card = await vault.reveal(tx, merchant_id, record.card_token)
            return await authorization.dispatch_authenticated(tx, payment, updated, card, at)

        # The result is the request's fingerprint: the same completion replays,
        # another one for the same challenge is IDEMPOTENCY_KEY_REUSED. A crash after
        # the channel call leaves the payment PENDING with the authorization in flight:
        # a status query settles it, and a repeated completion then gets the payment
        # as it is (``settled_payment``), never a second authorization.
        fingerprint = json.dumps([result.status.value, result.eci]).encode()
        key = RequestKey(merchant_id, "CompleteChallenge", payment_id)
        identity = RequestIdentity(payment_id, fingerprint)
        for _ in range(_IN_PROGRESS_TRIES):
            try:
                reply = await self._executor.execute(key, identity, _ENCODER, plan, settled_payment)
            except PaycoreError as exc:
                if exc.reason is Reason.REQUEST_IN_PROGRESS:
                    # A double click: the first submission is being applied (its
                    # channel call may take a while); answer as it will.
                    await asyncio.sleep(_IN_PROGRESS_PAUSE_S)
                    continue
                log.info("challenge completion for %s refused: %s", payment_id, exc.reason.name)
                if exc.reason is Reason.IDEMPOTENCY_KEY_REUSED:
                    return Completion.CLOSED
                return Completion.BUSY
            if not reply.ok or reply.body == PaymentState.CANCELED.value.encode():
                return Completion.CLOSED
            return Completion.APPLIED
        return Completion.BUSY

    async def expire_due(self, limit: int = 100) -> int:
        """Cancel open challenges past their deadline; returns how many were canceled."""
        at = self._clock()
        canceled = 0
        for merchant_id, payment_id in await self._reads.expired(at, limit):
            async with self._repository.transaction() as tx:
                payment = await tx.payments.lock(merchant_id, payment_id)
                # Re-checked under the lock: a completion may have come first.
                if payment is None or not lifecycle.challenge_expired(payment, at):
                    continue
                await _save(tx, payment, lifecycle.abandon_challenge(payment, at))
                canceled += 1
        return canceled

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep expired challenges every ``sweep_interval_s`` until ``stopping`` is set."""
        await sweep_every(self._sweep_interval_s, stopping, self.expire_due, "challenge expiry")


async def _save(tx: PaymentTransaction, locked: Payment, ended: Payment) -> None:
    """Store a payment whose challenge ended without a channel call, and its authentication."""
    assert ended.authentication is not None
    assert ended.authentication.status is not AuthenticationStatus.CHALLENGE_PENDING
    await tx.payments.save(payment_change(locked, ended))
    await tx.authentications.save(ended)
