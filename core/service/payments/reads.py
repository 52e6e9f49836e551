"""GetPayment, ListPayments and ListRefunds: reads, rate limited as reads, never claimed."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from core.domain.commands import PaymentQuery, RefundQuery
from core.domain.errors import NotFoundError, Reason
from core.domain.payment import Payment, Refund
from core.gate import RequestGate, RpcClass
from core.ports.repository import PaymentRepository
from core.ports.telemetry import Instruments
from core.service.execution import annotate_resource


class _PageQuery(Protocol):
    """What every listing's query has (PaymentQuery, RefundQuery)."""

    @property
    def merchant_id(self) -> str: ...

    @property
    def page_size(self) -> int: ...


Q = TypeVar("Q", bound=_PageQuery)
R = TypeVar("R")


class PaymentReads:
    """Reads a merchant's payments and refunds."""

    def __init__(
        self, *, repository: PaymentRepository, gate: RequestGate, telemetry: Instruments
    ) -> None:
        self._repo = repository
        self._gate = gate
        self._telemetry = telemetry

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

    async def list_refunds(self, query: RefundQuery) -> tuple[list[Refund], bool]:
        """A page of the merchant's refunds, newest first, and whether more follow."""
        return await self._page(query, self._repo.list_refunds)

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
