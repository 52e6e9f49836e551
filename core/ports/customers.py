"""What the customer use cases (core/service/customers.py) need from storage.

Writes go through the unit of work (``PaymentTransaction.customers``), so a
customer's change commits with the request_id's stored reply; reads that
answer a Get or a List need no transaction (``CustomerReads``). PostgreSQL
implements both (core/storage/customers.py).
"""

from __future__ import annotations

from typing import Protocol

from core.domain.customers import Customer, CustomerQuery


class Customers(Protocol):
    """A merchant's customers inside one transaction (``uow.customers``)."""

    async def lock(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A live customer of the merchant, its row locked until the transaction ends."""
        ...

    async def find(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A live customer of the merchant; a concurrent delete cannot commit under it."""
        ...

    async def save(self, customer: Customer) -> None:
        """Store a new customer, or every mutable field of an existing one (deletion too)."""
        ...


class CustomerReads(Protocol):
    """Committed customers, read outside any transaction."""

    async def get_customer(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A live customer of the merchant."""
        ...

    async def list_customers(self, query: CustomerQuery) -> list[Customer]:
        """Up to ``query.page_size`` live customers, newest first, after the cursor."""
        ...
