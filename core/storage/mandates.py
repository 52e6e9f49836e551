"""Mandates in PostgreSQL (asyncpg): tables ``mandates`` and ``mandate_charges``.

``PostgresMandates`` is the unit of work's repository (``uow.mandates``): its
writes run on the request's transaction. ``PostgresMandateReads`` answers
ListPaymentMethods on the pool. Every query is scoped by merchant.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from core.domain.mandates import (
    UNUSED_BY,
    ChargeHistory,
    Frequency,
    Interval,
    Mandate,
    MandateCharge,
    MandateScope,
    MandateUsage,
    PaymentMethodQuery,
    SavedPaymentMethod,
)
from core.domain.money import Money
from core.domain.payment import CardSummary
from core.storage.unavailable import unavailable_as_error

_COLUMNS = """
    m.merchant_id, m.id, m.customer_id, m.card_token, m.usage, m.max_amount, m.currency,
    m.interval, m.interval_count, m.expire_time, m.agreement_id, m.channel,
    m.verification_payment_id, m.revoke_time, m.create_time, m.update_time
"""


def _mandate(row: asyncpg.Record) -> Mandate:
    interval = row["interval"]
    return Mandate(
        id=row["id"],
        merchant_id=row["merchant_id"],
        customer_id=row["customer_id"],
        card_token=row["card_token"],
        scope=MandateScope(
            usage=MandateUsage(row["usage"]),
            max_amount=Money(row["max_amount"], row["currency"]),
            frequency=Frequency(
                None if interval is None else Interval(interval), row["interval_count"]
            ),
            expires_at=row["expire_time"],
        ),
        agreement_id=row["agreement_id"],
        channel=row["channel"],
        verification_payment_id=row["verification_payment_id"],
        created_at=row["create_time"],
        updated_at=row["update_time"],
        revoked_at=row["revoke_time"],
    )


class PostgresMandates:
    """``Mandates`` on one transaction's connection."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection

    async def lock(self, merchant_id: str, mandate_id: str) -> Mandate | None:
        """A mandate of the merchant, locked until the transaction ends."""
        row = await self._connection.fetchrow(
            f"SELECT {_COLUMNS} FROM mandates m WHERE m.merchant_id = $1 AND m.id = $2"
            " FOR NO KEY UPDATE",
            merchant_id,
            mandate_id,
        )
        return None if row is None else _mandate(row)

    async def save(self, mandate: Mandate) -> None:
        """Insert a new mandate, or write the revocation of an existing one."""
        scope = mandate.scope
        frequency = scope.frequency
        await self._connection.execute(
            """
            INSERT INTO mandates (merchant_id, id, customer_id, card_token, usage, max_amount,
                currency, interval, interval_count, expire_time, agreement_id, channel,
                verification_payment_id, revoke_time, create_time, update_time)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            ON CONFLICT (merchant_id, id) DO UPDATE SET revoke_time = EXCLUDED.revoke_time,
                update_time = EXCLUDED.update_time
            """,
            mandate.merchant_id,
            mandate.id,
            mandate.customer_id,
            mandate.card_token,
            scope.usage.value,
            scope.max_amount.amount,
            scope.max_amount.currency,
            None if frequency.interval is None else frequency.interval.value,
            frequency.count,
            scope.expires_at,
            mandate.agreement_id,
            mandate.channel,
            mandate.verification_payment_id,
            mandate.revoked_at,
            mandate.created_at,
            mandate.updated_at,
        )

    async def history(
        self, merchant_id: str, mandate_id: str, window_start: datetime | None
    ) -> ChargeHistory:
        """The first charge under the mandate and the number since ``window_start``.

        Charges whose payment ended declined or failed (``UNUSED_BY``) used none
        of the mandate and are left out. A charge is noted in the transaction
        that writes its payment, so its payment row is always there to read.
        """
        row = await self._connection.fetchrow(
            """
            WITH used AS (
                SELECT c.payment_id, c.create_time FROM mandate_charges c
                JOIN payments p ON p.merchant_id = c.merchant_id AND p.id = c.payment_id
                WHERE c.merchant_id = $1 AND c.mandate_id = $2 AND p.state <> ALL($4::text[])
            )
            SELECT (SELECT payment_id FROM used
                    ORDER BY create_time, payment_id LIMIT 1) AS first_payment_id,
                   (SELECT count(*) FROM used
                    WHERE $3::timestamptz IS NOT NULL AND create_time > $3) AS in_window
            """,
            merchant_id,
            mandate_id,
            window_start,
            [state.value for state in UNUSED_BY],
        )
        return ChargeHistory(row["first_payment_id"] or "", row["in_window"])

    async def record_charge(
        self, merchant_id: str, mandate_id: str, payment_id: str, at: datetime
    ) -> None:
        """Note a payment made under the mandate."""
        await self._connection.execute(
            "INSERT INTO mandate_charges (merchant_id, payment_id, mandate_id, create_time)"
            " VALUES ($1, $2, $3, $4)",
            merchant_id,
            payment_id,
            mandate_id,
            at,
        )

    async def charge_of(self, merchant_id: str, payment_id: str) -> MandateCharge | None:
        """The mandate a payment was charged under, as its charge."""
        row = await self._connection.fetchrow(
            """
            SELECT m.id, m.customer_id, m.card_token, m.agreement_id
            FROM mandate_charges c JOIN mandates m
                ON m.merchant_id = c.merchant_id AND m.id = c.mandate_id
            WHERE c.merchant_id = $1 AND c.payment_id = $2
            """,
            merchant_id,
            payment_id,
        )
        if row is None:
            return None
        return MandateCharge(row["id"], row["customer_id"], row["card_token"], row["agreement_id"])


class PostgresMandateReads:
    """``MandateReads`` on the pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @unavailable_as_error()  # PostgreSQL away or the pool exhausted: UNAVAILABLE
    async def list_payment_methods(self, query: PaymentMethodQuery) -> list[SavedPaymentMethod]:
        """A page of the customer's card tokens (in id order), each with its mandates.

        The customer's tokens are those it set up (its mandates') and those
        tokenized with its customer_id (none of their mandates, maybe).
        """
        rows = await self._pool.fetch(
            f"""
            WITH page AS (
                SELECT card_token FROM (
                    SELECT card_token FROM mandates
                    WHERE merchant_id = $1 AND customer_id = $2 AND card_token > $3
                    UNION
                    SELECT id FROM card_tokens
                    WHERE merchant_id = $1 AND customer_id = $2 AND id > $3
                ) AS tokens
                ORDER BY card_token LIMIT $4
            )
            SELECT {_COLUMNS}, page.card_token AS method_token,
                t.brand, t.bin, t.last4, t.exp_month, t.exp_year, t.fingerprint
            FROM page JOIN card_tokens t ON t.merchant_id = $1 AND t.id = page.card_token
            LEFT JOIN mandates m ON m.merchant_id = $1 AND m.customer_id = $2
                AND m.card_token = page.card_token
            ORDER BY page.card_token, m.create_time, m.id
            """,
            query.merchant_id,
            query.customer_id,
            query.after_token,
            query.page_size,
        )
        return _grouped(rows)


def _grouped(rows: Sequence[asyncpg.Record]) -> list[SavedPaymentMethod]:
    """Rows ordered by card token, one per mandate (or one without) -> one method per token."""
    methods: list[SavedPaymentMethod] = []
    mandates: list[Mandate] = []
    for index, row in enumerate(rows):
        token = row["method_token"]
        if row["id"] is not None:  # a token saved with the customer may have no mandate
            mandates.append(_mandate(row))
        last_of_token = index + 1 == len(rows) or rows[index + 1]["method_token"] != token
        if last_of_token:
            card = CardSummary(
                row["brand"],
                row["bin"],
                row["last4"],
                row["exp_month"],
                row["exp_year"],
                row["fingerprint"],
            )
            methods.append(SavedPaymentMethod(token, card, tuple(mandates)))
            mandates = []
    return methods
