"""CapturePayment: all or part of an authorized payment captured through its channel."""

from __future__ import annotations

from datetime import datetime

from core.domain import lifecycle
from core.domain.attempt import ChannelOperation, ChannelResult
from core.domain.commands import CapturePayment
from core.domain.errors import PaycoreError
from core.domain.payment import Payment
from core.ports.repository import PaymentTransaction, RequestKey
from core.service.execution import Dispatch, Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payment_changes import payment_change
from core.service.payments.steps import channel_attempt, locked_payment, refused_or


class PaymentCapture:
    """Captures authorized payments."""

    def __init__(self, executor: RequestExecutor) -> None:
        self._executor = executor

    async def capture_payment(
        self, command: CapturePayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Capture all or part of an authorized payment."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await locked_payment(tx, command.merchant_id, command.payment_id)
            amount = lifecycle.plan_capture(payment, command.amount)
            # In flight: nothing moves yet; the answer (``complete``) posts the capture.
            await tx.payments.save(payment_change(payment, lifecycle.begin_capture(payment, at)))
            attempt = channel_attempt(payment, ChannelOperation.CAPTURE, amount)
            await tx.attempts.record(attempt, at)

            def complete(
                current: Payment, result: ChannelResult, when: datetime
            ) -> tuple[Payment, Payment | PaycoreError]:
                updated = lifecycle.complete_capture(current, amount, result, when)
                return updated, refused_or(updated, result, "capture")

            return Plan(payment.id, dispatch=Dispatch(attempt, None, complete))

        key = RequestKey(command.merchant_id, "CapturePayment", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)
