"""UpdatePayment: a payment's description and metadata, or its amount before confirmation."""

from __future__ import annotations

from datetime import datetime

from core.domain import lifecycle
from core.domain.commands import UpdatePayment
from core.domain.payment import Payment
from core.ports.repository import PaymentTransaction, RequestKey
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payment_changes import payment_change
from core.service.payments.steps import locked_payment


class PaymentUpdate:
    """Changes the details of payments."""

    def __init__(self, executor: RequestExecutor) -> None:
        self._executor = executor

    async def update_payment(
        self, command: UpdatePayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Change description/metadata, or the amount before confirmation."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await locked_payment(tx, command.merchant_id, command.payment_id)
            updated = lifecycle.update_details(
                payment,
                at,
                amount=command.amount,
                description=command.description,
                metadata=command.metadata,
            )
            await tx.payments.save(payment_change(payment, updated))
            return Plan(payment.id, result=updated)

        key = RequestKey(command.merchant_id, "UpdatePayment", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)
