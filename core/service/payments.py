"""The payment service: where a payment is scored, routed, sent to a channel and stored.

Each operation is a ``plan``: a function that, inside the request's first
transaction, loads the payment, asks core.domain.lifecycle what is legal, and
writes the decision (and, when money must move, the channel attempt). The
request engine (core/service/execution.py) runs plans exactly once per
request_id, makes the channel call and commits its answer.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from core.domain import ids, lifecycle
from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.audit import Actor, AuditRecord
from core.domain.cards import summarize
from core.domain.commands import (
    CancelPayment,
    CapturePayment,
    CardInput,
    ConfirmPayment,
    CreatePayment,
    PaymentQuery,
    RefundPayment,
    RefundQuery,
    ReviewRefund,
    UpdatePayment,
)
from core.domain.errors import NotFoundError, PaycoreError, Reason
from core.domain.issuers import issuer_country
from core.domain.money import Money
from core.domain.payment import (
    CaptureMethod,
    CardSummary,
    ConfirmationMethod,
    Failure,
    Payment,
    PaymentState,
    Refund,
    RefundState,
    RiskAssessment,
    RiskContext,
    RiskDecision,
    RoutingRecord,
)
from core.domain.refund_review import NoRefundRiskFlags, RefundRiskCheck, refund_needs_review
from core.gate import RequestGate, RpcClass
from core.redis.velocity import VelocityRead
from core.risk.screen import RiskScreen, Screening
from core.service.card_vault import CardVault
from core.service.execution import (
    Dispatch,
    Encoder,
    Plan,
    Reply,
    RequestExecutor,
    RequestIdentity,
    annotate_resource,
)
from core.service.group_commit import NotBatchableError, PlannedWrites
from core.storage.repository import (
    PaymentRepository,
    PaymentTransaction,
    RequestKey,
)
from core.telemetry import Telemetry, instruments
from core.vault.records import StoredCard
from riskengine.features import Transaction
from router import Router
from router.routing import RouteRequest


class _PageQuery(Protocol):
    """What every listing's query has (PaymentQuery, RefundQuery)."""

    @property
    def merchant_id(self) -> str: ...

    @property
    def page_size(self) -> int: ...


Q = TypeVar("Q", bound=_PageQuery)
R = TypeVar("R")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What the payment service needs from configuration."""

    fingerprint_key: str


class PaymentService:
    """Create, confirm, capture, cancel, refund, update, get and list payments."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        repository: PaymentRepository,
        gate: RequestGate,
        risk: RiskScreen,
        router: Router,
        settings: ServiceSettings,
        vault: CardVault,
        telemetry: Telemetry | None = None,
        refund_risk: RefundRiskCheck | None = None,
    ) -> None:
        self._executor = executor
        self._refund_risk: RefundRiskCheck = refund_risk or NoRefundRiskFlags()
        self._vault = vault
        self._telemetry = telemetry or Telemetry.disabled()
        self._repo = repository
        self._gate = gate
        self._risk = risk
        self._router = router
        self._settings = settings

    # --- reads ----------------------------------------------------------------

    async def get_payment(self, merchant_id: str, payment_id: str) -> Payment:
        """One payment of the merchant; NOT_FOUND for unknown ids and other merchants' payments."""
        annotate_resource(payment_id)
        with self._telemetry.stage("gate"):
            await self._gate.admit(merchant_id, RpcClass.READS, None)
        payment = await self._repo.get_payment(merchant_id, payment_id)
        if payment is None:
            raise NotFoundError(Reason.PAYMENT_NOT_FOUND, payment_id=payment_id)
        return payment

    async def list_payments(self, query: PaymentQuery) -> tuple[list[Payment], bool]:
        """A page of the merchant's payments, newest first, and whether more follow."""
        return await self._page(query, self._repo.list_payments)

    async def _page(
        self, query: Q, fetch: Callable[[Q], Awaitable[list[R]]]
    ) -> tuple[list[R], bool]:
        """One page of a listing (a read, rate limited) and whether more follow.

        One row more than the page is read: its presence is the "more" answer.
        """
        with self._telemetry.stage("gate"):
            await self._gate.admit(query.merchant_id, RpcClass.READS, None)
        rows = await fetch(dataclasses.replace(query, page_size=query.page_size + 1))  # type: ignore[type-var]
        return rows[: query.page_size], len(rows) > query.page_size

    # --- writes ---------------------------------------------------------------

    async def create_payment(
        self, command: CreatePayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Record a payment and, unless confirmation is manual, authorize it."""
        payment_id = ids.new_id(ids.PAYMENT)
        # A card in the request is summarised (an HMAC of its number) and described to
        # risk once, for the gate's velocity rider and for every run of the plan.
        card_key = self._settings.fingerprint_key
        summary = None if command.card is None else summarize(command.card, card_key)
        stored = await self._token_row(command)
        transaction = self._velocity_transaction(command, summary, stored)
        velocity = None
        if transaction is not None:
            velocity = self._risk.velocity.rider(transaction, payment_id)
        # The plan may run twice: recorded for a group commit, then for real when the
        # batch cannot take it. Risk scores it once: the second run reuses the verdict,
        # so velocity, metrics and spans count the payment once.
        scored: list[Screening] = []

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            card_input, card = command.card, summary  # a card and a token are exclusive
            if command.card_token:
                card_input, card = await self._card_to_use(
                    tx, command.merchant_id, None, command.card_token, stored
                )
            payment = Payment(
                id=payment_id,
                merchant_id=command.merchant_id,
                state=PaymentState.REQUIRES_CONFIRMATION,
                amount=command.amount,
                amount_captured=Money.zero(command.amount.currency),
                amount_refunded=Money.zero(command.amount.currency),
                capture_method=command.capture_method,
                confirmation_method=command.confirmation_method,
                card=card,
                customer_id=command.customer_id,
                description=command.description,
                metadata=command.metadata,
                created_at=at,
                updated_at=at,
                bank_transfer=command.bank_transfer,
            )
            if command.confirmation_method is ConfirmationMethod.MANUAL or not payment.method:
                # Validation guarantees a payment method with automatic confirmation;
                # with manual confirmation ConfirmPayment brings it.
                await tx.payments.insert(payment)
                return Plan(payment.id, result=payment)
            return await self._authorize(
                tx,
                payment,
                card_input,
                at,
                new=True,
                card_token=command.card_token,
                context=command.risk_context,
                counted=velocity.read() if velocity else None,
                scored=scored,
                transaction=transaction,
            )

        key = RequestKey(command.merchant_id, "CreatePayment", request.request_id)
        return await self._executor.execute(
            key, request, encoder, plan, settled_payment, rider=velocity, batch=True
        )

    async def _token_row(self, command: CreatePayment) -> StoredCard | None:
        """The vault row of a payment by token that is authorized at once, read before the gate.

        Its masked card makes the velocity rider, so that a payment by token,
        like one by card, costs one Redis round trip and can be group-committed
        (its plan then reads nothing). Read on a connection of its own, shared
        with concurrent requests' reads, while this request holds none; nothing
        is decrypted before the plan (after the rate limit and the request_id
        check). An unknown token reads None here and is NOT_FOUND in the plan,
        as before.
        """
        if not command.card_token or command.confirmation_method is ConfirmationMethod.MANUAL:
            return None
        return await self._vault.find(command.merchant_id, command.card_token)

    @staticmethod
    def _velocity_transaction(
        command: CreatePayment, summary: CardSummary | None, stored: StoredCard | None
    ) -> Transaction | None:
        """What risk scores of a new payment whose velocity rides in the gate's round trip.

        For a card in the request (``summary``: its masked form) or a token whose
        row was read before the gate (``stored``); without one the velocity is
        read and counted by the plan. The plan's scoring reuses it: the payment
        it builds has exactly these values.
        """
        if command.bank_transfer is not None or command.confirmation_method is (
            ConfirmationMethod.MANUAL
        ):
            return None
        # The method as _risk_method names it (a bank transfer has no rider).
        if summary is not None:
            card, method = summary, "card"
        elif stored is not None:
            card, method = stored.token.card, "card_token"
        else:
            return None
        return risk_transaction(
            command.merchant_id,
            command.amount,
            card,
            command.customer_id,
            command.risk_context,
            method,
        )

    async def confirm_payment(
        self, command: ConfirmPayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Score, route and authorize a payment waiting for confirmation."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await self._locked(tx, command.merchant_id, command.payment_id)
            lifecycle.require(payment, "confirm")
            card_input, card = await self._card_to_use(
                tx, command.merchant_id, command.card, command.card_token
            )
            # Validation requires a card, a token or a bank transfer.
            assert card_input is not None or command.bank_transfer is not None
            with_method = dataclasses.replace(
                payment, card=card, bank_transfer=command.bank_transfer
            )
            return await self._authorize(
                tx, with_method, card_input, at, new=False, card_token=command.card_token
            )

        key = RequestKey(command.merchant_id, "ConfirmPayment", request.request_id)
        return await self._executor.execute(key, request, encoder, plan, settled_payment)

    async def capture_payment(
        self, command: CapturePayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Capture all or part of an authorized payment."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await self._locked(tx, command.merchant_id, command.payment_id)
            amount = lifecycle.plan_capture(payment, command.amount)
            await tx.payments.save(lifecycle.begin_capture(payment, at))
            attempt = self._attempt(payment, ChannelOperation.CAPTURE, amount)
            await tx.attempts.record(attempt, at)

            def complete(
                current: Payment, result: ChannelResult, when: datetime
            ) -> tuple[Payment, Payment | PaycoreError]:
                updated = lifecycle.complete_capture(current, amount, result, when)
                return updated, _refused_or(updated, result, "capture")

            return Plan(payment.id, dispatch=Dispatch(attempt, None, complete))

        key = RequestKey(command.merchant_id, "CapturePayment", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def cancel_payment(
        self, command: CancelPayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Cancel before capture: directly if never sent, through a void if authorized."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await self._locked(tx, command.merchant_id, command.payment_id)
            if not lifecycle.needs_void(payment):
                canceled = lifecycle.cancel_unconfirmed(payment, at)
                await tx.payments.save(canceled)
                return Plan(payment.id, result=canceled)
            await tx.payments.save(lifecycle.begin_void(payment, at))
            attempt = self._attempt(payment, ChannelOperation.VOID, payment.amount)
            await tx.attempts.record(attempt, at)

            def complete(
                current: Payment, result: ChannelResult, when: datetime
            ) -> tuple[Payment, Payment | PaycoreError]:
                updated = lifecycle.complete_void(current, result, when)
                return updated, _refused_or(updated, result, "void")

            return Plan(payment.id, dispatch=Dispatch(attempt, None, complete))

        key = RequestKey(command.merchant_id, "CancelPayment", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def refund_payment(
        self,
        command: RefundPayment,
        request: RequestIdentity,
        encoder: Encoder[tuple[Refund, Payment]],
    ) -> Reply:
        """Refund part or all of what is captured and not yet refunded.

        A refund above the merchant's review threshold (or flagged by risk)
        is held in PENDING_REVIEW instead: reserved, not sent, answered at once.
        """

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[tuple[Refund, Payment]]:
            payment = await self._locked(tx, command.merchant_id, command.payment_id)
            amount = lifecycle.plan_refund(payment, command.amount)
            # Read inside the payment's lock: a threshold committed before this
            # refund was planned applies to it.
            settings = await tx.merchants.settings(command.merchant_id)
            held = refund_needs_review(
                amount,
                settings.refund_review_threshold(payment.currency),
                self._refund_risk.flags_refund(payment, amount),
            )
            refund = Refund(
                id=ids.new_id(ids.REFUND),
                payment_id=payment.id,
                amount=amount,
                state=RefundState.PENDING_REVIEW if held else RefundState.PENDING,
                reason=command.reason,
                created_at=at,
            )
            if held:
                waiting = lifecycle.hold_refund(payment, refund, at)
                await tx.payments.save(waiting)
                return Plan(payment.id, result=(refund, waiting))
            return await self._send_refund(
                tx, lifecycle.begin_refund(payment, refund, at), refund, at
            )

        key = RequestKey(command.merchant_id, "RefundPayment", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def approve_refund(
        self,
        command: ReviewRefund,
        actor: Actor,
        request: RequestIdentity,
        encoder: Encoder[tuple[Refund, Payment]],
    ) -> Reply:
        """Send a refund held for review to its channel, as RefundPayment would have."""
        return await self._review_refund(command, actor, request, encoder, approve=True)

    async def reject_refund(
        self,
        command: ReviewRefund,
        actor: Actor,
        request: RequestIdentity,
        encoder: Encoder[tuple[Refund, Payment]],
    ) -> Reply:
        """Reject a refund held for review: REJECTED, never sent, its amount freed."""
        return await self._review_refund(command, actor, request, encoder, approve=False)

    async def _review_refund(
        self,
        command: ReviewRefund,
        actor: Actor,
        request: RequestIdentity,
        encoder: Encoder[tuple[Refund, Payment]],
        *,
        approve: bool,
    ) -> Reply:
        """An admin's decision on a held refund, audited in the transaction that makes it.

        Two decisions racing on one refund queue on the payment's row lock;
        the second finds the refund decided and fails REFUND_NOT_IN_REVIEW.
        """

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[tuple[Refund, Payment]]:
            payment = await self._payment_of_refund(tx, command.merchant_id, command.refund_id)
            before = next(r for r in payment.refunds if r.id == command.refund_id)
            if approve:
                updated, after = lifecycle.approve_refund(payment, command.refund_id, at)
            else:
                updated, after = lifecycle.reject_refund(
                    payment, command.refund_id, command.reason, at
                )
            # An approval is audited with the decision; the channel's answer
            # then settles the refund like any other, on the refund itself.
            await tx.audit.record(
                _refund_audit(
                    "refund.approve" if approve else "refund.reject",
                    actor,
                    before=before,
                    after=after,
                    at=at,
                    request=request,
                    command=command,
                )
            )
            if approve:
                return await self._send_refund(tx, updated, after, at)
            await tx.payments.save(updated)
            return Plan(payment.id, result=(after, updated))

        rpc = "ApproveRefund" if approve else "RejectRefund"
        key = RequestKey(command.merchant_id, rpc, request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def list_refunds(self, query: RefundQuery) -> tuple[list[Refund], bool]:
        """A page of the merchant's refunds, newest first, and whether more follow."""
        return await self._page(query, self._repo.list_refunds)

    async def update_payment(
        self, command: UpdatePayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Change description/metadata, or the amount before confirmation."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await self._locked(tx, command.merchant_id, command.payment_id)
            updated = lifecycle.update_details(
                payment,
                at,
                amount=command.amount,
                description=command.description,
                metadata=command.metadata,
            )
            await tx.payments.save(updated)
            return Plan(payment.id, result=updated)

        key = RequestKey(command.merchant_id, "UpdatePayment", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    # --- the engine -------------------------------------------------------------

    async def _card_to_use(
        self,
        tx: PaymentTransaction,
        merchant_id: str,
        card: CardInput | None,
        card_token: str,
        stored: StoredCard | None = None,
    ) -> tuple[CardInput | None, CardSummary | None]:
        """The card to pay with and its masked form; a token is revealed by the vault.

        Called inside the plan, so after the rate limit and the request_id
        claim: a refused or replayed request never decrypts a card (it may
        have read a token's sealed row before the gate: ``_token_row``).
        The token is read on ``tx``'s connection, never on a second one, unless
        its row was read before the transaction (``stored``).
        An unknown token (or another merchant's) is NOT_FOUND, stored as the
        request's outcome like any error once execution has begun. The
        revealed number stays in this request's memory for the channel call
        only; the payment keeps the token's masked card.
        """
        if card_token:
            token, revealed = await self._vault.reveal(tx, merchant_id, card_token, stored)
            return revealed, token.card
        if card is None:
            return None, None
        return card, summarize(card, self._settings.fingerprint_key)

    async def _authorize(
        self,
        tx: PaymentTransaction,
        payment: Payment,
        card: CardInput | None,
        at: datetime,
        *,
        new: bool,
        card_token: str = "",
        context: RiskContext | None = None,
        counted: VelocityRead | None = None,
        scored: list[Screening] | None = None,
        transaction: Transaction | None = None,
    ) -> Plan[Payment]:
        """Score, then decline, hold for review or route; store the decision (and attempt).

        ``counted``: the payment's velocity, already read and counted by the gate.
        ``scored``: where an earlier run of the same plan left its screening (reused).
        ``transaction``: what risk scores of ``payment``, when already built.
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
            decided, dispatch = self._route(payment, risk, card, at, transaction)
        if new:
            await tx.payments.insert(decided)
        else:
            await tx.payments.save(decided)
        if decided.state is PaymentState.REQUIRES_REVIEW:
            await self._risk.hold(tx, decided, card, card_token, at)
        if decided.routing is not None:
            await tx.payments.record_routing(decided.merchant_id, decided.id, decided.routing)
        if dispatch is not None:
            await tx.attempts.record(dispatch.attempt, at)
        return Plan(decided.id, result=decided, dispatch=dispatch)

    async def dispatch_reviewed(
        self, tx: PaymentTransaction, payment: Payment, card: CardInput | None, at: datetime
    ) -> Plan[Payment]:
        """Send a held payment an admin approved, through the normal authorization path."""
        assert payment.risk is not None  # held payments were scored
        decided, dispatch = self._route(payment, payment.risk, card, at, None, reviewed=True)
        await tx.payments.save(decided)
        if decided.routing is not None:
            await tx.payments.record_routing(decided.merchant_id, decided.id, decided.routing)
        if dispatch is not None:
            await tx.attempts.record(dispatch.attempt, at)
        return Plan(decided.id, result=decided, dispatch=dispatch)

    def _route(
        self,
        payment: Payment,
        risk: RiskAssessment,
        card: CardInput | None,
        at: datetime,
        transaction: Transaction | None,
        *,
        reviewed: bool = False,
    ) -> tuple[Payment, Dispatch[Payment] | None]:
        """Route a payment risk let through; the result is final or needs a channel call."""
        with self._telemetry.stage("route") as span:
            countries = self._risk.engine.rules.bin_countries
            decision = self._router.decide(route_request(payment, countries))
            if decision.channel is None:
                why = "no channel can carry the payment (" + "; ".join(decision.steps) + ")"
                failed = lifecycle.fail_unroutable(payment, risk, why, at, reviewed=reviewed)
                return failed, None
            span.set_attribute(instruments.CHANNEL, decision.channel)
        pending = lifecycle.begin_authorization(
            payment,
            risk,
            decision.channel,
            at,
            reviewed=reviewed,
            routing=RoutingRecord(decision.candidates, decision.steps),
        )
        return pending, self._authorization(pending, card, decision.candidates, transaction)

    def _authorization(
        self,
        payment: Payment,
        card: CardInput | None,
        candidates: tuple[str, ...],
        transaction: Transaction | None,
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
            return moved, self._authorization(moved, card, candidates, transaction)

        return Dispatch(attempt, card, complete, failover)

    async def _send_refund(
        self, tx: PaymentTransaction, payment: Payment, refund: Refund, at: datetime
    ) -> Plan[tuple[Refund, Payment]]:
        """Store ``payment`` with ``refund`` PENDING and in flight, and plan its channel call.

        The one refund path to a channel: RefundPayment and ApproveRefund both
        end here, so an approved refund is recorded, shielded and settled
        exactly like one that never waited.
        """
        await tx.payments.save(payment)
        attempt = dataclasses.replace(
            self._attempt(payment, ChannelOperation.REFUND, refund.amount), refund_id=refund.id
        )
        await tx.attempts.record(attempt, at)

        def complete(
            current: Payment, result: ChannelResult, when: datetime
        ) -> tuple[Payment, tuple[Refund, Payment] | PaycoreError]:
            updated, settled = lifecycle.complete_refund(current, refund.id, result, when)
            return updated, (settled, updated)

        return Plan(payment.id, dispatch=Dispatch(attempt, None, complete))

    async def _payment_of_refund(
        self, tx: PaymentTransaction, merchant_id: str, refund_id: str
    ) -> Payment:
        """The locked payment a refund belongs to; NOT_FOUND for unknown (or others') refunds."""
        payment_id = await tx.payments.refund_payment_id(merchant_id, refund_id)
        payment = None if payment_id is None else await tx.payments.lock(merchant_id, payment_id)
        if payment is None:
            raise NotFoundError(Reason.REFUND_NOT_FOUND, refund_id=refund_id)
        return payment

    @staticmethod
    def _attempt(payment: Payment, operation: ChannelOperation, amount: Money) -> Attempt:
        return Attempt(
            id=ids.new_id(ids.ATTEMPT),
            merchant_id=payment.merchant_id,
            payment_id=payment.id,
            operation=operation,
            channel=payment.channel,
            amount=amount,
            channel_reference=payment.channel_reference,
        )

    @staticmethod
    async def _locked(tx: PaymentTransaction, merchant_id: str, payment_id: str) -> Payment:
        payment = await tx.payments.lock(merchant_id, payment_id)
        if payment is None:
            raise NotFoundError(Reason.PAYMENT_NOT_FOUND, payment_id=payment_id)
        return payment


def _refund_audit(
    action: str,
    actor: Actor,
    *,
    before: Refund,
    after: Refund,
    at: datetime,
    request: RequestIdentity,
    command: ReviewRefund,
) -> AuditRecord:
    """The audit record of an admin's decision on a held refund."""

    def snapshot(refund: Refund) -> dict[str, object]:
        return {
            "state": refund.state.value,
            "amount_minor": refund.amount.amount,
            "currency": refund.amount.currency,
            "payment_id": refund.payment_id,
        }

    details: dict[str, object] = {"request_id": request.request_id}
    if command.reason:
        details["reason"] = command.reason
    return AuditRecord(
        actor=actor,
        action=action,
        resource_type="refund",
        resource_id=before.id,
        merchant_id=command.merchant_id,
        at=at,
        before=snapshot(before),
        after=snapshot(after),
        details=details,
    )


def risk_transaction(  # noqa: PLR0917
    merchant_id: str,
    amount: Money,
    card: CardSummary | None,
    customer_id: str,
    context: RiskContext,
    method: str,
) -> Transaction:
    """What the risk engine scores of a payment (the same before and inside the plan)."""
    signals = context.signals()  # the customer's signals, named as Transaction names them
    return Transaction(merchant_id, amount, card, customer_id, **signals, method=method)


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
    """The ``method`` feature risk rules see: "card", "card_token" or "bank_transfer"."""
    if payment.bank_transfer is not None:
        return "bank_transfer"
    return "card_token" if card_token else "card"


def _refused_or(payment: Payment, result: ChannelResult, operation: str) -> Payment | PaycoreError:
    """The payment, or CHANNEL_REFUSED when the channel said no to a capture or void."""
    if result.outcome in (AttemptOutcome.DECLINED, AttemptOutcome.FAILED):
        failure = result.failure or Failure("refused", "The channel refused the operation.")
        return PaycoreError(
            Reason.CHANNEL_REFUSED,
            operation=operation,
            payment_id=payment.id,
            channel_message=failure.message,
        )
    return payment
