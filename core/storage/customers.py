"""A merchant's customers in PostgreSQL (asyncpg): table ``customers``.

``PostgresCustomers`` is the unit of work's repository (``uow.customers``):
its writes run on the request's transaction, so they commit with the
request_id's stored reply. ``PostgresCustomerReads`` answers Get and List on
the pool. Every query is scoped by merchant; deleted customers are never read.
"""

from __future__ import annotations

import asyncpg

from core.domain.customers import Customer, CustomerQuery
from core.storage.unavailable import unavailable_as_error

_COLUMNS = """
    merchant_id, id, email, name, metadata, default_payment_method, create_time, update_time
"""

_BY_ID = f"""
    SELECT {_COLUMNS} FROM customers WHERE merchant_id = $1 AND id = $2 AND NOT deleted
"""


def _customer(row: asyncpg.Record) -> Customer:
    return Customer(
        id=row["id"],
        merchant_id=row["merchant_id"],
        email=row["email"],
        name=row["name"],
        metadata=row["metadata"],
        default_payment_method=row["default_payment_method"] or "",
        created_at=row["create_time"],
        updated_at=row["update_time"],
    )


class PostgresCustomers:
    """``Customers`` on one transaction's connection."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def lock(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A live customer, locked until the transaction ends."""
        row = await self._connection.fetchrow(
            f"{_BY_ID} FOR NO KEY UPDATE", merchant_id, customer_id
        )
        return None if row is None else _customer(row)

    async def find(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A live customer, share-locked: a payment naming it.

        FOR SHARE waits for a concurrent update or delete (they lock FOR NO KEY
        UPDATE) and then reads the row as committed, so a payment never names a
        customer whose delete committed before the payment did; payments of one
        customer do not wait for each other.
        """
        row = await self._connection.fetchrow(f"{_BY_ID} FOR SHARE", merchant_id, customer_id)
        return None if row is None else _customer(row)

    async def save(self, customer: Customer) -> None:
        """Insert a new customer or replace every mutable field of an existing one."""
        await self._connection.execute(
            """
            INSERT INTO customers (merchant_id, id, email, name, metadata,
                default_payment_method, deleted, create_time, update_time)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (merchant_id, id) DO UPDATE SET email = EXCLUDED.email,
                name = EXCLUDED.name, metadata = EXCLUDED.metadata,
                default_payment_method = EXCLUDED.default_payment_method,
                deleted = EXCLUDED.deleted, update_time = EXCLUDED.update_time
            """,
            customer.merchant_id,
            customer.id,
            customer.email,
            customer.name,
            dict(customer.metadata),
            customer.default_payment_method or None,
            customer.deleted,
            customer.created_at,
            customer.updated_at,
        )


class PostgresCustomerReads:
    """``CustomerReads`` on the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def get_customer(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A live customer of the merchant."""
        row = await self._pool.fetchrow(_BY_ID, merchant_id, customer_id)
        return None if row is None else _customer(row)

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def list_customers(self, query: CustomerQuery) -> list[Customer]:
        """Up to ``query.page_size`` live customers, newest first (ids are time-ordered)."""
        rows = await self._pool.fetch(
            f"""
            SELECT {_COLUMNS} FROM customers
            WHERE merchant_id = $1 AND NOT deleted
              AND ($2 = '' OR id < $2) AND ($3 = '' OR email = $3)
            ORDER BY id DESC LIMIT $4
            """,
            query.merchant_id,
            query.before_id,
            query.email,
            query.page_size,
        )
        return [_customer(row) for row in rows]
