"""The mandate service the API calls: set a payment method up, revoke a mandate, list methods.

Mutations run through the exactly-once executor (core/service/execution.py);
the setup's steps are core/service/mandates/setup.py. Everything is scoped to
the caller's merchant: another merchant's mandate is NOT_FOUND.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from core.domain import mandates as rules
from core.domain.errors import NotFoundError, Reason
from core.domain.mandates import Mandate, PaymentMethodQuery, SavedPaymentMethod
from core.gate import RequestGate, RpcClass
from core.ports.mandates import MandateReads
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.mandates.setup import PaymentMethodSetup
from core.service.payments.authorize import Authorization


class MandateService:
    """A merchant's customers' saved payment methods and their mandates."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        repository: PaymentRepository,
        authorization: Authorization,
        reads: MandateReads,
        gate: RequestGate,
    ) -> None:
        """``authorization``: the payment authorization path the verification takes."""
        self._executor = executor
        self._reads = reads
        self._gate = gate
        setup = PaymentMethodSetup(
            executor=executor, repository=repository, authorization=authorization
        )
        self.setup_payment_method = setup.setup_payment_method

    async def revoke_mandate(
        self,
        merchant_id: str,
        mandate_id: str,
        request: RequestIdentity,
        encoder: Encoder[Mandate],
    ) -> Reply:
        """Revoke a mandate: no charge is allowed under it from then on (again: no change)."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Mandate]:
            mandate = await tx.mandates.lock(merchant_id, mandate_id)
            if mandate is None:
                raise NotFoundError(Reason.MANDATE_NOT_FOUND, mandate_id=mandate_id)
            revoked = rules.revoked(mandate, at)
            if revoked is not mandate:
                await tx.mandates.save(revoked)
            return Plan(revoked.id, result=revoked)

        key = RequestKey(merchant_id, "RevokeMandate", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def list_payment_methods(
        self, query: PaymentMethodQuery
    ) -> tuple[list[SavedPaymentMethod], bool]:
        """A page of a customer's saved methods with their mandates, and whether more follow."""
        await self._gate.admit(query.merchant_id, RpcClass.READS, None)
        # One more than the page: whether another page follows, without a count.
        methods = await self._reads.list_payment_methods(
            dataclasses.replace(query, page_size=query.page_size + 1)
        )
        return methods[: query.page_size], len(methods) > query.page_size
