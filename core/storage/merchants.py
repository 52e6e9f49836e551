"""Merchants and their settings (tables ``merchants``, ``merchant_settings``).

Inside a request's transaction, ``PostgresMerchants`` (``uow.merchants``)
creates merchants and reads, locks and saves their settings, so a change
commits together with its audit record and the request_id's stored reply.
Reads outside one (authentication, the admin API) are
core/storage/access.py's and ``merchant_settings`` on the pool.
"""

from __future__ import annotations

import asyncpg

from core.auth.keys import Merchant
from core.domain.merchant_settings import MerchantSettings
from core.domain.money import Money

MERCHANT_COLUMNS = "id, display_name, raw_card_data_allowed, create_time"


def merchant_from_row(row: asyncpg.Record) -> Merchant:
    """The merchant a row of ``MERCHANT_COLUMNS`` holds."""
    return Merchant(
        id=row["id"],
        display_name=row["display_name"],
        created_at=row["create_time"],
        raw_card_data_allowed=row["raw_card_data_allowed"],
    )


class PostgresMerchants:
    """The merchants and merchant settings of one transaction (``uow.merchants``)."""

    __slots__ = ("_c",)

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._c = connection

    async def insert(self, merchant: Merchant) -> bool:
        """Store a new merchant; False when the id is taken (nothing changes then)."""
        status: str = await self._c.execute(
            f"INSERT INTO merchants ({MERCHANT_COLUMNS}) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (id) DO NOTHING",
            merchant.id,
            merchant.display_name,
            merchant.raw_card_data_allowed,
            merchant.created_at,
        )
        return status.endswith(" 1")

    async def settings(self, merchant_id: str) -> MerchantSettings:
        """A merchant's settings as committed (the defaults when never changed); no lock."""
        return await merchant_settings(self._c, merchant_id)

    async def lock_settings(self, merchant_id: str) -> MerchantSettings:
        """A merchant's settings, locked until the transaction ends (for an update)."""
        # Make sure the row exists so that FOR UPDATE has something to lock:
        # two first-ever updates then queue like any two updates, and each
        # audit record's "before" is what the other committed.
        await self._c.execute(
            "INSERT INTO merchant_settings (merchant_id) VALUES ($1) ON CONFLICT DO NOTHING",
            merchant_id,
        )
        return await merchant_settings(self._c, merchant_id, "FOR UPDATE")

    async def save_settings(self, settings: MerchantSettings) -> None:
        """Store a merchant's settings (after ``lock_settings``)."""
        await self._c.execute(
            """
            INSERT INTO merchant_settings (merchant_id, refund_review_thresholds, update_time)
            VALUES ($1, $2, $3)
            ON CONFLICT (merchant_id) DO UPDATE
                SET refund_review_thresholds = EXCLUDED.refund_review_thresholds,
                    update_time = EXCLUDED.update_time
            """,
            settings.merchant_id,
            [
                {"currency": t.currency, "amount": t.amount}
                for t in settings.refund_review_thresholds
            ],
            settings.updated_at,
        )


async def merchant_settings(
    connection: asyncpg.Connection | asyncpg.Pool, merchant_id: str, lock: str = ""
) -> MerchantSettings:
    """A merchant's settings; the defaults when it has no row (``lock``: e.g. FOR UPDATE)."""
    row = await connection.fetchrow(
        "SELECT refund_review_thresholds, update_time FROM merchant_settings"
        f" WHERE merchant_id = $1 {lock}",
        merchant_id,
    )
    if row is None:
        return MerchantSettings(merchant_id)
    return MerchantSettings(
        merchant_id=merchant_id,
        refund_review_thresholds=tuple(
            Money(int(item["amount"]), item["currency"]) for item in row["refund_review_thresholds"]
        ),
        updated_at=row["update_time"],
    )
