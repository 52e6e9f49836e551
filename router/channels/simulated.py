"""In-process simulated card acquirers: deterministic test modes with a ledger of what they did.

Every simulated acquirer answers the sandbox test cards (router/channels/sandbox.py)
the same way; on top of that each one has its own profile (currencies,
brands, fees, amount limit) and its own declines, and all of them react to
these amount triggers (the payment amount in minor units, modulo 100000, on
authorization), so failures are reproducible from a test or a curl:

=================  =================================================================
amount ends in     what the channel does
=================  =================================================================
...999.01 (99901)  processes the call, then never answers (``hang_s``): paycore times
                   out, the payment stays PENDING; a status query finds it SUCCEEDED
...999.02 (99902)  never answers and processes nothing: a status query finds nothing
...999.03 (99903)  connection refused: certainly not processed (failover allowed)
...999.04 (99904)  answers "not processed" (system busy): failover allowed
...999.05 (99905)  processes the call, then resets the connection (ambiguous)
=================  =================================================================

These are test mode: the answer is the one the amount asked for, not news of
the channel's health. Every simulated acquirer's profile declares them
(``test_amounts``), and the router keeps them out of the circuit breaker, so one
merchant's test payments never take a channel away from anyone
(router/router.py).

Acquirer-specific test cards:

==================  ============================  ============================
number              acquirer_a                    acquirer_b
==================  ============================  ============================
4000000000003220    declined: authentication_     authorized
                    required, unless the
                    attempt is authenticated
                    (3-D Secure, ECI 05)
4000000000000341    authorized                    declined: do_not_honor
==================  ============================  ============================

A merchant-initiated authorization (``Attempt.merchant_initiated``, a charge under a
mandate) without an ``agreement_id`` is declined (``agreement_required``), as a network
declines one it cannot tie to the customer's consent; the ledger records both.

The ledger is keyed by attempt id (paycore's idempotency key): the same
attempt sent twice is executed once, and ``query`` answers from it, as a
real provider's status API would.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.authentication import AUTHENTICATED
from core.domain.commands import CardInput
from core.domain.disputes import DisputeNotice, Evidence
from core.domain.payment import Failure
from core.domain.reconciliation import SettlementLine
from router.channel import BadSignature, ChannelNotProcessed, Notification
from router.channels.acquirer_wire import signed_dispute_notice, signed_notification
from router.channels.sandbox import (
    CAPTURE_REFUSED,
    REFUND_FAILS,
    SANDBOX_PROFILE,
    card_outcome,
    reference_flags,
)
from router.routing import TEST_AMOUNT_MODULUS, ChannelProfile
from router.signing import verify


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Latency and failure injection of a simulated channel (for tests and benchmarks)."""

    latency_s: float = 0.0
    """Added before every answer."""
    hang_s: float = 60.0
    """How long the "never answers" triggers wait (longer than paycore's channel timeout)."""
    refuse_rate: float = 0.0
    """Share of calls refused before processing (like a refused connection)."""
    not_processed_rate: float = 0.0
    """Share of calls answered "not processed"."""
    ambiguous_rate: float = 0.0
    """Share of calls processed and then failed with a reset (the caller cannot tell)."""
    seed: int = 0
    """Seed of the random failure draws, so a benchmark run can be repeated."""


class _Trigger(enum.Enum):
    NONE = 0
    HANG_AFTER_PROCESSING = 99_901
    HANG_UNPROCESSED = 99_902
    REFUSE = 99_903
    NOT_PROCESSED = 99_904
    RESET_AFTER_PROCESSING = 99_905


TEST_AMOUNTS = frozenset(t.value for t in _Trigger if t is not _Trigger.NONE)
"""The trigger amounts, as every simulated acquirer's profile declares them (``test_amounts``)."""


def _trigger(amount_minor: int) -> _Trigger:
    try:
        return _Trigger(amount_minor % TEST_AMOUNT_MODULUS)
    except ValueError:
        return _Trigger.NONE


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the simulated provider did for one attempt."""

    attempt_id: str
    operation: ChannelOperation
    payment_id: str
    amount_minor: int
    currency: str
    result: ChannelResult
    merchant_initiated: bool = False
    """A merchant-initiated charge, as the attempt said (tests read what the channel saw)."""
    agreement_id: str = ""
    eci: str = ""
    """The 3-D Secure ECI the attempt carried (tests read what the channel saw)."""


NOT_FOUND = ChannelResult(
    AttemptOutcome.FAILED,
    failure=Failure("not_found", "The channel has no record of this request."),
    not_processed=True,
)


AUTHENTICATION_REQUIRED = "authentication_required"

_NO_AGREEMENT = Failure(
    "agreement_required", "A merchant-initiated charge needs the agreement id of its mandate."
)


@dataclass(frozen=True, slots=True)
class AcquirerSpec:
    """A simulated acquirer's fixed traits."""

    profile: ChannelProfile
    reference_prefix: str
    declines: Mapping[str, tuple[str, str]] = field(default_factory=lambda: MappingProxyType({}))


SANDBOX = AcquirerSpec(replace(SANDBOX_PROFILE, test_amounts=TEST_AMOUNTS), "sbx")
ACQUIRER_A = AcquirerSpec(
    ChannelProfile(
        name="acquirer_a",
        currencies=frozenset({"USD", "EUR", "GBP"}),
        brands=frozenset({"visa", "mastercard"}),
        max_amount_minor=5_000_000,
        fee_bps=150,
        fee_fixed_minor=20,
        test_amounts=TEST_AMOUNTS,
    ),
    "aqa",
    MappingProxyType(
        {"4000000000003220": (AUTHENTICATION_REQUIRED, "The issuer requires authentication.")}
    ),
)
"""Cheap, Visa/Mastercard only, three currencies, up to 50,000.00."""
ACQUIRER_B = AcquirerSpec(
    ChannelProfile(
        name="acquirer_b",
        currencies=frozenset({"USD", "EUR", "GBP", "JPY", "CAD", "AUD"}),
        fee_bps=290,
        fee_fixed_minor=30,
        test_amounts=TEST_AMOUNTS,
    ),
    "aqb",
    MappingProxyType({"4000000000000341": ("do_not_honor", "The issuer did not honor the card.")}),
)
"""Dearer, every brand, six currencies, no amount limit."""


SPECS = {spec.profile.name: spec for spec in (SANDBOX, ACQUIRER_A, ACQUIRER_B)}
"""The built-in simulated acquirers by channel name."""


class SimulatedAcquirer:
    """A card acquirer's test mode, in process (see the module docstring)."""

    def __init__(
        self,
        spec: AcquirerSpec,
        behaviour: Behaviour | None = None,
        *,
        callback_secret: bytes = b"",
        callback_tolerance_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = spec.profile.name
        self.profile = spec.profile
        self._spec = spec
        self.behaviour = behaviour or Behaviour()
        self._random = random.Random(self.behaviour.seed)
        self._secret = callback_secret
        self._tolerance_s = callback_tolerance_s
        self._clock = clock
        self.ledger: dict[str, LedgerEntry] = {}
        """Every processed attempt by id (public for tests and settlement reports)."""
        self.queries = 0
        """Status queries answered (for tests)."""
        self.evidence: dict[str, Evidence] = {}
        """Evidence received, by the channel's dispute id."""

    def charges(self, payment_id: str) -> int:
        """How many successful authorizations the provider made for ``payment_id``."""
        return sum(
            1
            for e in self.ledger.values()
            if e.payment_id == payment_id
            and e.operation is ChannelOperation.AUTHORIZE
            and e.result.outcome is AttemptOutcome.SUCCEEDED
        )

    def settlement_report(self) -> list[SettlementLine]:
        """The provider's settlement report: every processed attempt (CSV: settlement_csv)."""
        return [
            SettlementLine(
                e.attempt_id, e.operation.value, e.amount_minor, e.currency, e.result.outcome.value
            )
            for e in self.ledger.values()
        ]

    async def authorize(self, attempt: Attempt, card: CardInput | None) -> ChannelResult:
        """Decide by card number (sandbox table, then this acquirer's own declines)."""
        if card is None:  # a card channel asked to carry another method: nothing done
            return ChannelResult(
                AttemptOutcome.FAILED,
                failure=Failure("card_required", "This channel only takes cards."),
                not_processed=True,
            )

        def decide() -> ChannelResult:
            if attempt.merchant_initiated and not attempt.agreement_id:
                # As a network does: a charge without the customer needs the agreement
                # the customer-present verification made.
                return ChannelResult(AttemptOutcome.DECLINED, failure=_NO_AGREEMENT)
            if card.number in self._spec.declines:
                code, message = self._spec.declines[card.number]
                # An issuer asking for authentication is satisfied by a 3-D Secure result.
                if not (code == AUTHENTICATION_REQUIRED and attempt.eci == AUTHENTICATED):
                    return ChannelResult(AttemptOutcome.DECLINED, failure=Failure(code, message))
            outcome, failure, flags = card_outcome(card.number)
            if outcome is not AttemptOutcome.SUCCEEDED:
                return ChannelResult(outcome, failure=failure)
            reference = f"{self._spec.reference_prefix}_{attempt.id.removeprefix('att_')}"
            return ChannelResult(outcome, reference=f"{reference}.{flags}" if flags else reference)

        return await self._run(attempt, decide)

    async def capture(self, attempt: Attempt) -> ChannelResult:
        """Capture succeeds unless the card was 4000000000000259."""
        return await self._run(attempt, lambda: self._follow_up(attempt, "capture_refused"))

    async def void(self, attempt: Attempt) -> ChannelResult:
        """Void succeeds unless the card was 4000000000000259."""
        return await self._run(attempt, lambda: self._follow_up(attempt, "void_refused"))

    async def refund(self, attempt: Attempt) -> ChannelResult:
        """Refund succeeds unless the card was 4000000000005126."""

        def decide() -> ChannelResult:
            if reference_flags(attempt.channel_reference) == REFUND_FAILS:
                return ChannelResult(
                    AttemptOutcome.FAILED,
                    failure=Failure("refund_failed", "The acquirer could not refund the card."),
                )
            reference = f"{self._spec.reference_prefix}r_{attempt.id.removeprefix('att_')}"
            return ChannelResult(AttemptOutcome.SUCCEEDED, reference=reference)

        return await self._run(attempt, decide)

    async def query(self, attempt: Attempt) -> ChannelResult:
        """The recorded result of ``attempt``, or NOT_FOUND (nothing was processed)."""
        await asyncio.sleep(self.behaviour.latency_s)
        self.queries += 1
        entry = self.ledger.get(attempt.id)
        return NOT_FOUND if entry is None else entry.result

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """Verify an HMAC-signed JSON notification (see router/signing.py) and decode it."""
        if not self._secret:
            raise BadSignature(f"channel {self.name} sends no notifications")
        verify(self._secret, headers, body, self._clock(), self._tolerance_s)
        return signed_notification(body)

    def parse_dispute_notice(self, headers: Mapping[str, str], body: bytes) -> DisputeNotice:
        """Verify an HMAC-signed JSON dispute notification and decode it."""
        if not self._secret:
            raise BadSignature(f"channel {self.name} sends no notifications")
        verify(self._secret, headers, body, self._clock(), self._tolerance_s)
        return signed_dispute_notice(body)

    async def send_dispute_evidence(self, reference: str, evidence: Evidence) -> None:
        """Keep the evidence (``evidence``, for tests): the in-process channel decides nothing."""
        self.evidence[reference] = evidence

    def _follow_up(self, attempt: Attempt, refused_code: str) -> ChannelResult:
        if reference_flags(attempt.channel_reference) == CAPTURE_REFUSED:
            return ChannelResult(
                AttemptOutcome.DECLINED,
                failure=Failure(refused_code, "The acquirer refused the operation."),
            )
        return ChannelResult(AttemptOutcome.SUCCEEDED, reference=attempt.channel_reference)

    async def _run(self, attempt: Attempt, decide: Callable[[], ChannelResult]) -> ChannelResult:
        """Process ``attempt`` once, with the configured latency and failure injection."""
        done = self.ledger.get(attempt.id)
        if done is not None:  # the provider's idempotency: a repeat is answered, not redone
            return done.result
        behaviour = self.behaviour
        await asyncio.sleep(behaviour.latency_s)
        trigger = (
            _trigger(attempt.amount.amount)
            if attempt.operation is ChannelOperation.AUTHORIZE
            else _Trigger.NONE
        )
        if trigger is _Trigger.REFUSE or self._draw(behaviour.refuse_rate):
            raise ChannelNotProcessed(f"{self.name}: connection refused")
        if trigger is _Trigger.NOT_PROCESSED or self._draw(behaviour.not_processed_rate):
            return ChannelResult(
                AttemptOutcome.FAILED,
                failure=Failure("not_processed", "The channel is busy; nothing was processed."),
                not_processed=True,
            )
        if trigger is _Trigger.HANG_UNPROCESSED:
            await asyncio.sleep(behaviour.hang_s)
            raise ConnectionResetError(f"{self.name}: gave up without processing")
        result = decide()
        self.ledger[attempt.id] = LedgerEntry(
            attempt.id,
            attempt.operation,
            attempt.payment_id,
            attempt.amount.amount,
            attempt.amount.currency,
            result,
            attempt.merchant_initiated,
            attempt.agreement_id,
            attempt.eci,
        )
        if trigger is _Trigger.HANG_AFTER_PROCESSING:
            await asyncio.sleep(behaviour.hang_s)
        if trigger is _Trigger.RESET_AFTER_PROCESSING or self._draw(behaviour.ambiguous_rate):
            raise ConnectionResetError(f"{self.name}: connection reset after processing")
        return result

    def _draw(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate
