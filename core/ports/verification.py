"""What the verification-code step (core/service/payments/verification.py) needs.

A ``CodeSender`` delivers a one-time code to the customer (email, SMS...); the
sandbox's keeps it in memory for tests (core/service/payments/code_sender.py).
A ``VerificationCodeStore`` keeps the code's digest and the step's state beside
the payment, in the payment's own transaction (PostgreSQL:
core/storage/verification_codes.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.domain.payment import Payment
from core.ports.repository import PaymentTransaction


class CodeSender(Protocol):
    """Delivers one-time codes. Implementations must never log the code."""

    async def send(self, merchant_id: str, payment_id: str, destination: str, code: str) -> None:
        """Send ``code`` for ``payment_id`` to ``destination`` (an email or phone number)."""
        ...


class VerificationCodeStore(Protocol):
    """Verification steps: written inside a payment's transaction, swept outside one."""

    async def open(self, tx: PaymentTransaction, payment: Payment, digest: str) -> None:
        """Store the step ``payment`` waits in (its ``next_action.verify_code``) and the
        code's ``digest``, after the payment's row."""
        ...

    async def digest(self, tx: PaymentTransaction, merchant_id: str, payment_id: str) -> str:
        """The stored digest of the payment's code ("" when it was asked for none)."""
        ...

    async def record(self, tx: PaymentTransaction, payment: Payment) -> None:
        """Store what ``payment`` says of its step: attempts left, or that it ended."""
        ...

    async def expired(self, at: datetime, limit: int) -> list[tuple[str, str]]:
        """(merchant_id, payment_id) of open steps whose deadline passed at ``at``."""
        ...
