"""RefundPayment, and the review of refunds held for it (ApproveRefund, RejectRefund).

A refund above the merchant's review threshold, or flagged by risk, is held in
PENDING_REVIEW (core/domain/refund_review.py): reserved, not sent. An admin's
approval sends it down the one refund path to a channel, exactly as if it had
never waited; a rejection frees its amount. Both decisions are audited in the
transaction that makes them.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from core.domain import ids, lifecycle
from core.domain.attempt import ChannelOperation, ChannelResult
from core.domain.audit import Actor, AuditRecord
from core.domain.commands import RefundPayment, ReviewRefund
from core.domain.errors import NotFoundError, PaycoreError, Reason
from core.domain.payment import Payment, Refund, RefundState
from core.domain.refund_review import RefundRiskCheck, refund_needs_review
from core.ports.disputes import RefundGuard
from core.ports.repository import PaymentChange, PaymentTransaction, RequestKey
from core.service.execution import Dispatch, Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payment_changes import payment_change
from core.service.payments.steps import channel_attempt, locked_payment

RefundEncoder = Encoder[tuple[Refund, Payment]]
"""How a refund's reply is encoded: the refund, with its payment as it now is."""


class Refunds:
    """Refunds payments, and sends or rejects the refunds held for review."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        refund_risk: RefundRiskCheck,
        guard: RefundGuard | None = None,
    ) -> None:
        """``refund_risk``: flags refunds risk wants reviewed, whatever their amount;
        ``guard``: refuses refunds of payments a dispute holds (core/service/disputes.py)."""
        self._executor = executor
        self._refund_risk = refund_risk
        self._guard = guard

    async def refund_payment(
        self, command: RefundPayment, request: RequestIdentity, encoder: RefundEncoder
    ) -> Reply:
        """Refund part or all of what is captured and not yet refunded.

        A refund above the merchant's review threshold (or flagged by risk)
        is held in PENDING_REVIEW instead: reserved, not sent, answered at once.
        """

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[tuple[Refund, Payment]]:
            payment = await locked_payment(tx, command.merchant_id, command.payment_id)
            amount = lifecycle.plan_refund(payment, command.amount)
            if self._guard is not None:  # under the payment's lock, as disputes open
                await self._guard.check_refundable(tx, payment.merchant_id, payment.id)
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
                await tx.payments.save(payment_change(payment, waiting))
                return Plan(payment.id, result=(refund, waiting))
            sent = lifecycle.begin_refund(payment, refund, at)
            return await _send_refund(tx, payment_change(payment, sent), refund, at)

        key = RequestKey(command.merchant_id, "RefundPayment", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def approve_refund(
        self,
        command: ReviewRefund,
        actor: Actor,
        request: RequestIdentity,
        encoder: RefundEncoder,
    ) -> Reply:
        """Send a refund held for review to its channel, as RefundPayment would have."""
        return await self._review_refund(command, actor, request, encoder, approve=True)

    async def reject_refund(
        self,
        command: ReviewRefund,
        actor: Actor,
        request: RequestIdentity,
        encoder: RefundEncoder,
    ) -> Reply:
        """Reject a refund held for review: REJECTED, never sent, its amount freed."""
        return await self._review_refund(command, actor, request, encoder, approve=False)

    async def _review_refund(
        self,
        command: ReviewRefund,
        actor: Actor,
        request: RequestIdentity,
        encoder: RefundEncoder,
        *,
        approve: bool,
    ) -> Reply:
        """An admin's decision on a held refund, audited in the transaction that makes it.

        Two decisions racing on one refund queue on the payment's row lock;
        the second finds the refund decided and fails REFUND_NOT_IN_REVIEW.
        """

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[tuple[Refund, Payment]]:
            payment = await _payment_of_refund(tx, command.merchant_id, command.refund_id)
            before = next(r for r in payment.refunds if r.id == command.refund_id)
            if approve:
                updated, after = lifecycle.approve_refund(payment, command.refund_id, at)
                if self._guard is not None:  # sent only if no dispute holds the payment
                    await self._guard.check_refundable(tx, payment.merchant_id, payment.id)
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
                return await _send_refund(tx, payment_change(payment, updated), after, at)
            await tx.payments.save(payment_change(payment, updated))
            return Plan(payment.id, result=(after, updated))

        rpc = "ApproveRefund" if approve else "RejectRefund"
        key = RequestKey(command.merchant_id, rpc, request.request_id)
        return await self._executor.execute(key, request, encoder, plan)


async def _send_refund(
    tx: PaymentTransaction, change: PaymentChange, refund: Refund, at: datetime
) -> Plan[tuple[Refund, Payment]]:
    """Store ``change`` (its payment with ``refund`` PENDING and in flight), plan its channel call.

    The one refund path to a channel: RefundPayment and ApproveRefund both
    end here, so an approved refund is recorded, shielded and settled
    exactly like one that never waited.
    """
    # Announced now (refund.created); the money moves with the answer (``complete``).
    await tx.payments.save(change)
    payment = change.after
    attempt = dataclasses.replace(
        channel_attempt(payment, ChannelOperation.REFUND, refund.amount), refund_id=refund.id
    )
    await tx.attempts.record(attempt, at)

    def complete(
        current: Payment, result: ChannelResult, when: datetime
    ) -> tuple[Payment, tuple[Refund, Payment] | PaycoreError]:
        updated, settled = lifecycle.complete_refund(current, refund.id, result, when)
        return updated, (settled, updated)

    return Plan(payment.id, dispatch=Dispatch(attempt, None, complete))


async def _payment_of_refund(tx: PaymentTransaction, merchant_id: str, refund_id: str) -> Payment:
    """The locked payment a refund belongs to; NOT_FOUND for unknown (or others') refunds."""
    payment_id = await tx.payments.refund_payment_id(merchant_id, refund_id)
    payment = None if payment_id is None else await tx.payments.lock(merchant_id, payment_id)
    if payment is None:
        raise NotFoundError(Reason.REFUND_NOT_FOUND, refund_id=refund_id)
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
