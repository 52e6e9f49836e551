"""Verification steps in PostgreSQL: table ``payment_verification_codes``.

Written on the request's transaction (``connection_of``); a payment read back
carries its open step as ``next_action.verify_code`` through
core/storage/payment_reads.py (``VERIFICATION_JSON``, ``verification_from_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from core.domain.authentication import NextAction
from core.domain.payment import Payment
from core.domain.verification import VerifyCode
from core.ports.repository import PaymentTransaction
from core.storage.session import connection_of

VERIFICATION_JSON = """
    (
        SELECT jsonb_build_object(
            'sent_to', vc.sent_to, 'attempts_left', vc.attempts_left,
            'expire_time', vc.expire_time
        ) FROM payment_verification_codes vc
        WHERE vc.merchant_id = p.merchant_id AND vc.payment_id = p.id AND vc.open
            AND p.state = 'requires_action'
    ) AS verification
"""
"""The open step of a payment being read (``p``), as JSON; NULL without one."""


def verification_from_json(row: Mapping[str, Any] | None) -> dict[str, Any]:
    """``Payment``'s ``next_action`` while it waits for a code (else nothing)."""
    if row is None:
        return {}
    step = VerifyCode(row["sent_to"], row["attempts_left"])
    expires_at = datetime.fromisoformat(row["expire_time"])
    return {"next_action": NextAction(None, expires_at, verify_code=step)}


class PostgresVerificationCodes:
    """``VerificationCodeStore`` on PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def open(self, tx: PaymentTransaction, payment: Payment, digest: str) -> None:
        """Insert the step ``payment`` waits in, with the code's digest."""
        action = payment.next_action
        if action is None or action.verify_code is None:
            raise ValueError("a verification step opens on a payment waiting for a code")
        await connection_of(tx).execute(
            """
            INSERT INTO payment_verification_codes (merchant_id, payment_id, code_digest,
                sent_to, attempts_left, expire_time, update_time)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            payment.merchant_id,
            payment.id,
            digest,
            action.verify_code.sent_to,
            action.verify_code.attempts_left,
            action.expires_at,
            payment.updated_at,
        )

    async def digest(self, tx: PaymentTransaction, merchant_id: str, payment_id: str) -> str:
        """The stored digest ("" when the payment was asked for no code)."""
        value = await connection_of(tx).fetchval(
            "SELECT code_digest FROM payment_verification_codes"
            " WHERE merchant_id = $1 AND payment_id = $2",
            merchant_id,
            payment_id,
        )
        return value or ""

    async def record(self, tx: PaymentTransaction, payment: Payment) -> None:
        """Attempts left while the step is open; closed once the payment left it."""
        action = payment.next_action
        step = action.verify_code if action is not None else None
        await connection_of(tx).execute(
            """
            UPDATE payment_verification_codes
            SET attempts_left = COALESCE($3, attempts_left), open = $4, update_time = $5
            WHERE merchant_id = $1 AND payment_id = $2
            """,
            payment.merchant_id,
            payment.id,
            step.attempts_left if step is not None else None,
            step is not None,
            payment.updated_at,
        )

    async def expired(self, at: datetime, limit: int) -> list[tuple[str, str]]:
        """Open steps past their deadline, the oldest deadline first."""
        rows = await self._pool.fetch(
            """
            SELECT merchant_id, payment_id FROM payment_verification_codes
            WHERE open AND expire_time <= $1 ORDER BY expire_time LIMIT $2
            """,
            at,
            limit,
        )
        return [(row["merchant_id"], row["payment_id"]) for row in rows]
