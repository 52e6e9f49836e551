"""Call metadata of real API keys, issued straight into a test database.

Tests name callers through these (and the conftest fixtures built on them),
never by writing identity headers by hand.
"""

from __future__ import annotations

import asyncpg

from core.auth.policy import Role
from core.storage.access import issue_key

Metadata = tuple[tuple[str, str], ...]

AUTHORIZATION = "authorization"
MERCHANT_HEADER = "x-paycore-merchant-id"


def bearer(secret: str) -> Metadata:
    """Metadata carrying one API key."""
    return ((AUTHORIZATION, f"Bearer {secret}"),)


async def merchant_metadata(
    pool: asyncpg.Pool,
    merchant_id: str,
    role: Role = Role.MERCHANT,
    *,
    raw_card_data_allowed: bool = True,
) -> Metadata:
    """A new key of ``role`` for ``merchant_id`` (created on first use), as call metadata.

    Test merchants may send raw card data by default (most tests pay with the
    sandbox's test card numbers); tests of the restriction pass False.
    """
    async with pool.acquire() as connection:
        issued = await issue_key(
            connection,
            role=role,
            merchant_id=merchant_id,
            description=f"test {role.label} key",
            merchant_name=f"Test merchant {merchant_id}",
            raw_card_data_allowed=raw_card_data_allowed,
        )
    return bearer(issued.secret)


async def platform_metadata(pool: asyncpg.Pool, acting_for: str | None = None) -> Metadata:
    """A new superadmin key, as call metadata; acting for a merchant when one is named."""
    async with pool.acquire() as connection:
        issued = await issue_key(
            connection, role=Role.SUPERADMIN, merchant_id=None, description="test superadmin key"
        )
    return bearer(issued.secret) + (((MERCHANT_HEADER, acting_for),) if acting_for else ())


async def dsn_merchant_metadata(dsn: str, merchant_id: str, role: Role = Role.MERCHANT) -> Metadata:
    """``merchant_metadata`` for a server of its own, reached by its database DSN."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        return await merchant_metadata(pool, merchant_id, role)
    finally:
        await pool.close()
