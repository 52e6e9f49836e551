"""The authorization path: a payment scored by risk, then declined, held or routed and sent.

CreatePayment, ConfirmPayment and an approved risk review all end here
(``Authorization``): risk screens the payment, the router picks its channel,
core.domain.lifecycle says what it becomes, and the decision with its channel
attempt is written in the request's first transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from core.domain import ids, lifecycle
from core.domain.attempt import Attempt, ChannelOperation, ChannelResult
from core.domain.cards import summarize
from core.domain.commands import CardInput
from core.domain.customers import customer_paying_by_token
from core.domain.errors import PaycoreError
from core.domain.issuers import issuer_country
from core.domain.mandates import MandateCharge
from core.domain.money import Money
from core.domain.payment import (
    CaptureMethod,
    CardSummary,
    Payment,
    PaymentState,
    RiskAssessment,
    RiskContext,
    RiskDecision,
    RoutingRecord,
)
from core.ports import telemetry as instruments
from core.ports.repository import PaymentTransaction
from core.ports.risk import VelocityRead
from core.ports.telemetry import Instruments
from core.risk.screen import RiskScreen, Screening
from core.service.card_vault import CardVault
from core.service.group_commit import NotBatchableError, PlannedWrites
from core.service.payment_changes import payment_change
from core.service.payments.mandate_charge import check_still_in_force
from core.service.payments.three_ds import ThreeDSecure
from core.service.requests import Dispatch, Plan
from core.vault.records import StoredCard
from riskengine import Transaction
from router import Router
from router.routing import RouteRequest


class Authorization:
    """Scores, routes and plans the authorization of payments, inside their plans."""

    def __init__(
        self,
        *,
        risk: RiskScreen,
        router: Router,
        vault: CardVault,
        telemetry: Instruments,
        fingerprint_key: str,
        three_ds: ThreeDSecure | None = None,
    ) -> None:
        """``fingerprint_key``: keys the HMAC of card numbers in their masked form.

        ``three_ds``: the card's issuer authenticates the payer between risk and
        routing (None: no 3-D Secure).
        """
        self._risk = risk
        self._router = router
        self._vault = vault
        self._telemetry = telemetry
        self._fingerprint_key = fingerprint_key
        self._three_ds = three_ds

    async def card_to_use(
        self,
        tx: PaymentTransaction,
        merchant_id: str,
        card: CardInput | None,
        card_token: str,
        stored: StoredCard | None = None,
        *,
        customer_id: str = "",
    ) -> tuple[CardInput | None, CardSummary | None, str]:
        """The card to pay with, its masked form and whom it pays for; the vault reveals a token.

        ``customer_id``: the request's; a token's own customer binds it, from
        the same row read (``customer_paying_by_token``: "" takes the token's,
        another is refused with CARD_TOKEN_CUSTOMER_MISMATCH).

        Called inside the plan, so after the rate limit and the request_id
        claim: a refused or replayed request never decrypts a card (it may
        have read a token's sealed row before the gate: core/service/payments/create.py).
        The token is read on ``tx``'s connection, never on a second one, unless
        its row was read before the transaction (``stored``).
        An unknown token (or another merchant's) is NOT_FOUND, stored as the
        request's outcome like any error once execution has begun. The
        revealed number stays in this request's memory for the channel call
        only; the payment keeps the token's masked card.
        """
        if card_token:
            token, revealed = await self._vault.reveal(tx, merchant_id, card_token, stored)
            payer = customer_paying_by_token(customer_id, card_token, token.customer_id)
            return revealed, token.card, payer
        if card is None:
            return None, None, customer_id
        return card, summarize(card, self._fingerprint_key), customer_id

    async def authorize(
        self,
        tx: PaymentTransaction,
        payment: Payment,
        card: CardInput | None,
        at: datetime,
        *,
        locked: Payment | None,
        card_token: str = "",
        context: RiskContext | None = None,
        counted: VelocityRead | None = None,
        scored: list[Screening] | None = None,
        transaction: Transaction | None = None,
        mandate: MandateCharge | None = None,
        return_url: str = "",
    ) -> Plan[Payment]:
        """Score, then decline, hold for review or route; store the decision (and attempt).

        ``locked``: the payment as this transaction locked it (``payment`` is it with
        the method to use); None for a new payment, stored here for the first time.
        ``counted``: the payment's velocity, already read and counted by the gate.
        ``scored``: where an earlier run of the same plan left its screening (reused).
        ``transaction``: what risk scores of ``payment``, when already built.
        ``mandate``: a merchant-initiated charge under this mandate (scored as such,
        and the channel told so with the agreement id).
        ``return_url``: where the customer comes back after a 3-D Secure challenge.
        """
        recording = isinstance(tx, PlannedWrites)
        if recording and counted is None:
            # Scoring would count the payment's velocity before the batch decides
            # whether this request_id is new: a repeat would be counted again.
            raise NotBatchableError
        if transaction is None:
            transaction = risk_transaction(
                payment.merchant_id,
                payment.amount,
                payment.card,
                payment.customer_id,
                context or RiskContext(),
                _risk_method(payment, card_token),
                merchant_initiated=mandate is not None,
            )
        if scored:
            risk = scored[0].verdict.assessment
        else:
            with self._telemetry.stage("risk") as span:
                # A recorded plan holds no connection, so the lists (when not cached)
                # are read from the pool, not through the recorder.
                screening = await self._risk.assess(
                    transaction, payment.id, tx=None if recording else tx, counted=counted
                )
                risk = screening.verdict.assessment
                span.set_attribute(instruments.DECISION, risk.decision.value)
                span.set_attribute(instruments.SCORE, risk.score)
            self._telemetry.risk_assessed(risk.decision.value, risk.score)
            if scored is not None:
                scored.append(screening)
        dispatch: Dispatch[Payment] | None = None
        if risk.decision is RiskDecision.DECLINE:
            # Not counted as a decline for card testing: only issuers' answers are.
            decided = lifecycle.decline_for_risk(payment, risk, at)
        elif risk.decision is RiskDecision.REVIEW:
            decided = lifecycle.hold_for_review(payment, risk, at)
        else:
            decided = payment
            if self._three_ds is not None and mandate is None:
                # A merchant-initiated charge has no customer present to authenticate.
                decided = await self._three_ds.authenticate(payment, risk, card, at, return_url)
            elif risk.decision is RiskDecision.STEP_UP:
                # Risk wants the customer authenticated and nothing here can: declined.
                decided = lifecycle.decline_unauthenticated(payment, risk, at)
            if decided.state is PaymentState.REQUIRES_CONFIRMATION:
                decided, dispatch = self._route(
                    decided, risk, card, at, transaction, mandate=mandate
                )
        await tx.payments.save(payment_change(locked, decided))
        if decided.state is PaymentState.REQUIRES_REVIEW:
            await self._risk.hold(tx, decided, card, card_token, at)
        if self._three_ds is not None:
            await self._three_ds.record(tx, decided, card, card_token, at)
        if decided.routing is not None:
            await tx.payments.record_routing(decided.merchant_id, decided.id, decided.routing)
        if dispatch is not None:
            await tx.attempts.record(dispatch.attempt, at)
        return Plan(decided.id, result=decided, dispatch=dispatch)

    async def dispatch_reviewed(
        self, tx: PaymentTransaction, payment: Payment, card: CardInput | None, at: datetime
    ) -> Plan[Payment]:
        """Send a held payment an admin approved, through the normal authorization path.

        A merchant-initiated charge held for review is still one when approved:
        the channel is told so, with its mandate's agreement id.
        """
        assert payment.risk is not None  # held payments were scored
        mandate = await tx.mandates.charge_of(payment.merchant_id, payment.id)
        if mandate is not None:
            await check_still_in_force(tx, payment.merchant_id, mandate.mandate_id, at)
        decided, dispatch = self._route(
            payment, payment.risk, card, at, None, reviewed=True, mandate=mandate
        )
        return await _store_routed(tx, payment, decided, dispatch, at)

    async def dispatch_authenticated(
        self,
        tx: PaymentTransaction,
        locked: Payment,
        completed: Payment,
        card: CardInput | None,
        at: datetime,
    ) -> Plan[Payment]:
        """Send a payment whose customer completed a 3-D Secure challenge, with its result.

        ``locked``: the payment as locked in ``tx``; ``completed``: it after
        ``lifecycle.complete_challenge`` (its authentication recorded).
        """
        assert completed.risk is not None  # challenged payments were scored
        decided, dispatch = self._route(
            completed, completed.risk, card, at, None, authenticated=True
        )
        planned = await _store_routed(tx, locked, decided, dispatch, at)
        await tx.authentications.save(decided)
        return planned

    def _route(
        self,
        payment: Payment,
        risk: RiskAssessment,
        card: CardInput | None,
        at: datetime,
        transaction: Transaction | None,
        *,
        reviewed: bool = False,
        mandate: MandateCharge | None = None,
        authenticated: bool = False,
    ) -> tuple[Payment, Dispatch[Payment] | None]:
        """Route a payment risk let through; the result is final or needs a channel call."""
        with self._telemetry.stage("route") as span:
            countries = self._risk.engine.rules.bin_countries
            decision = self._router.decide(route_request(payment, countries))
            if decision.channel is None:
                why = "no channel can carry the payment (" + "; ".join(decision.steps) + ")"
                failed = lifecycle.fail_unroutable(
                    payment, risk, why, at, reviewed=reviewed, authenticated=authenticated
                )
                return failed, None
            span.set_attribute(instruments.CHANNEL, decision.channel)
        pending = lifecycle.begin_authorization(
            payment,
            risk,
            decision.channel,
            at,
            reviewed=reviewed,
            authenticated=authenticated,
            routing=RoutingRecord(decision.candidates, decision.steps),
        )
        return pending, self._authorization(
            pending, card, decision.candidates, transaction, mandate
        )

    def _authorization(
        self,
        payment: Payment,
        card: CardInput | None,
        candidates: tuple[str, ...],
        transaction: Transaction | None,
        mandate: MandateCharge | None = None,
    ) -> Dispatch[Payment]:
        """The authorization call on ``payment.channel``, failing over along ``candidates``.

        Failover happens only after an answer proving the channel did nothing
        (see Dispatch.failover); the next candidate gets a new attempt with a
        new idempotency key, recorded before it is called.
        """
        attempt = Attempt(
            id=ids.new_id(ids.ATTEMPT),
            merchant_id=payment.merchant_id,
            payment_id=payment.id,
            operation=ChannelOperation.AUTHORIZE,
            channel=payment.channel,
            amount=payment.amount,
            capture=payment.capture_method is CaptureMethod.AUTOMATIC,
            merchant_initiated=mandate is not None,
            agreement_id=mandate.agreement_id if mandate else "",
            eci=payment.authentication.eci if payment.authentication else "",
            liability_shift=bool(payment.authentication and payment.authentication.liability_shift),
            return_url=payment.redirect_wallet.return_url if payment.redirect_wallet else "",
        )

        def complete(
            current: Payment, result: ChannelResult, when: datetime
        ) -> tuple[Payment, Payment | PaycoreError]:
            updated = lifecycle.complete_authorization(current, result, when)
            if transaction is not None:
                # Card testing shows as declines: counted off the reply path.
                self._risk.note_outcome(transaction, updated)
            return updated, updated

        def failover(current: Payment, when: datetime) -> tuple[Payment, Dispatch[Payment]] | None:
            remaining = candidates[candidates.index(current.channel) + 1 :]
            if not remaining:
                return None
            moved = lifecycle.reroute_authorization(current, remaining[0], when)
            return moved, self._authorization(moved, card, candidates, transaction, mandate)

        return Dispatch(attempt, card, complete, failover)


async def _store_routed(
    tx: PaymentTransaction,
    before: Payment,
    decided: Payment,
    dispatch: Dispatch[Payment] | None,
    at: datetime,
) -> Plan[Payment]:
    """Store a payment sent on after it waited (review, challenge): its routing and attempt.

    ``before``: the payment as locked in ``tx`` (what the change moves from).
    """
    await tx.payments.save(payment_change(before, decided))
    if decided.routing is not None:
        await tx.payments.record_routing(decided.merchant_id, decided.id, decided.routing)
    if dispatch is not None:
        await tx.attempts.record(dispatch.attempt, at)
    return Plan(decided.id, result=decided, dispatch=dispatch)


def risk_transaction(  # noqa: PLR0917
    merchant_id: str,
    amount: Money,
    card: CardSummary | None,
    customer_id: str,
    context: RiskContext,
    method: str,
    *,
    merchant_initiated: bool = False,
) -> Transaction:
    """What the risk engine scores of a payment (the same before and inside the plan)."""
    signals = context.signals()  # the customer's signals, named as Transaction names them
    return Transaction(
        merchant_id,
        amount,
        card,
        customer_id,
        **signals,
        method=method,
        merchant_initiated=merchant_initiated,
    )


async def settled_payment(
    tx: PaymentTransaction, merchant_id: str, payment_id: str
) -> Payment | None:
    """The payment a crashed CreatePayment/ConfirmPayment left, once its outcome is known.

    The ``resume`` of those requests (see ``RequestExecutor.execute``): their
    whole outcome is the payment's state (authorized, captured, failed with
    its failure...), so once a status query or a notification settled the
    channel call, the payment as it is now is the answer. Capture, cancel and
    refund have no resume: their reply is an error when the channel refused,
    which the payment alone does not tell; a retry of those gets
    REQUEST_IN_PROGRESS (GetPayment shows the outcome).
    """
    payment = await tx.payments.lock(merchant_id, payment_id)
    if payment is None or payment.operation_in_flight:
        return None
    return payment


def route_request(payment: Payment, bin_countries: Mapping[str, str]) -> RouteRequest:
    """What routing needs to know about a payment: its method and, for a card, brand, BIN
    and issuer country (from ``bin_countries``, the risk rules' table: one table for both).
    """
    card = payment.card
    return RouteRequest(
        merchant_id=payment.merchant_id,
        method=payment.method,
        currency=payment.currency,
        amount_minor=payment.amount.amount,
        brand=card.brand if card else "",
        bin=card.bin if card else "",
        country=issuer_country(bin_countries, card.bin) if card else "",
        split_key=payment.id,
    )


def _risk_method(payment: Payment, card_token: str) -> str:
    """The ``method`` feature risk rules see: "card", "card_token", "bank_transfer" or
    "redirect_wallet"."""
    if payment.card is None:
        return payment.method
    return "card_token" if card_token else "card"
