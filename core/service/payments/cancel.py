"""CancelPayment: a payment canceled before capture, through a void once authorized."""

from __future__ import annotations

from datetime import datetime

from core.domain import lifecycle
from core.domain.attempt import ChannelOperation, ChannelResult
from core.domain.commands import CancelPayment
from core.domain.errors import PaycoreError
from core.domain.payment import Payment
from core.ports.repository import PaymentTransaction, RequestKey
from core.service.execution import Dispatch, Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payment_changes import payment_change
from core.service.payments.steps import channel_attempt, locked_payment, refused_or


class PaymentCancellation:
    """Cancels payments that are not captured."""

    def __init__(self, executor: RequestExecutor) -> None:
        self._executor = executor

    async def cancel_payment(
        self,
        command: CancelPayment,
        request: RequestIdentity,
        encoder: Encoder[Payment],
        *,
        operation: str = "CancelPayment",
    ) -> Reply:
        """Cancel before capture: directly if never sent, through a void if authorized.

        ``operation``: the request_id's namespace (another use case voiding a
        payment of its own, e.g. SetupPaymentMethod's verification).
        """

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await locked_payment(tx, command.merchant_id, command.payment_id)
            if not lifecycle.needs_void(payment):
                canceled = lifecycle.cancel_unconfirmed(payment, at)
                await tx.payments.save(payment_change(payment, canceled))
                return Plan(payment.id, result=canceled)
            await tx.payments.save(payment_change(payment, lifecycle.begin_void(payment, at)))
            attempt = channel_attempt(payment, ChannelOperation.VOID, payment.amount)
            await tx.attempts.record(attempt, at)

            def complete(
                current: Payment, result: ChannelResult, when: datetime
            ) -> tuple[Payment, Payment | PaycoreError]:
                updated = lifecycle.complete_void(current, result, when)
                return updated, refused_or(updated, result, "void")

            return Plan(payment.id, dispatch=Dispatch(attempt, None, complete))

        key = RequestKey(command.merchant_id, operation, request.request_id)
        return await self._executor.execute(key, request, encoder, plan)
