"""What the 3-D Secure use cases (core/service/payments/challenges.py) need from storage.

A payment's authentication is written in the payment's own transaction
(``PaymentTransaction.authentications``); the completion endpoint and the
expiry sweep find challenges outside one (``ChallengeReads``). PostgreSQL
implements both (core/storage/authentications.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.domain.payment import Payment


@dataclass(frozen=True, slots=True)
class ChallengeRecord:
    """A challenge as stored: whose payment it is, and what it keeps for afterwards."""

    merchant_id: str
    payment_id: str
    return_url: str
    card_token: str
    """The vault token the card waits under (empty: none kept)."""


class Authentications(Protocol):
    """Payments' authentications inside one transaction (``uow.authentications``)."""

    async def save(self, payment: Payment, card_token: str = "") -> None:
        """Store ``payment.authentication`` (and, while it is open, its challenge).

        ``card_token``: the vault token a challenged payment's card waits under.
        """
        ...


class ChallengeReads(Protocol):
    """Challenges read outside a transaction."""

    async def challenge(self, payment_id: str) -> ChallengeRecord | None:
        """The challenge of ``payment_id`` (open or not), or None."""
        ...

    async def expired(self, at: datetime, limit: int) -> list[tuple[str, str]]:
        """(merchant_id, payment_id) of open challenges whose deadline passed at ``at``."""
        ...
