"""What the mandate use cases (core/service/mandates/) need from storage.

Writes go through the unit of work (``PaymentTransaction.mandates``), so a
mandate's change commits with the request_id's stored reply, and a charge made
under a mandate commits with its payment; reads that answer ListPaymentMethods
need no transaction (``MandateReads``). PostgreSQL implements both
(core/storage/mandates.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.domain.mandates import (
    ChargeHistory,
    Mandate,
    MandateCharge,
    PaymentMethodQuery,
    SavedPaymentMethod,
)


class Mandates(Protocol):
    """A merchant's mandates inside one transaction (``uow.mandates``)."""

    async def lock(self, merchant_id: str, mandate_id: str) -> Mandate | None:
        """A mandate of the merchant, its row locked until the transaction ends.

        Charges and revocations of one mandate lock it first, so each sees the
        others committed: a single-use mandate pays once, a revocation is
        never overtaken by a charge that read the mandate before it.
        """
        ...

    async def save(self, mandate: Mandate) -> None:
        """Store a new mandate, or the revocation of an existing one."""
        ...

    async def history(
        self, merchant_id: str, mandate_id: str, window_start: datetime | None
    ) -> ChargeHistory:
        """The charges made under the mandate (those since ``window_start`` counted apart)."""
        ...

    async def record_charge(
        self, merchant_id: str, mandate_id: str, payment_id: str, at: datetime
    ) -> None:
        """Note that ``payment_id`` was made under the mandate."""
        ...

    async def charge_of(self, merchant_id: str, payment_id: str) -> MandateCharge | None:
        """The mandate charge ``payment_id`` was created as; None for any other payment."""
        ...


class MandateReads(Protocol):
    """Committed mandates, read outside any transaction."""

    async def list_payment_methods(self, query: PaymentMethodQuery) -> list[SavedPaymentMethod]:
        """Up to ``query.page_size`` card tokens the customer set up, with their mandates."""
        ...
