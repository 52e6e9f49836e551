"""What the vault stores (``StoredCard``) and what it shows (``CardToken``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain.payment import CardSummary
from core.vault.envelope import Sealed


@dataclass(frozen=True, slots=True)
class CardToken:
    """A stored card as it may be shown: its token id and the masked card."""

    id: str
    merchant_id: str
    card: CardSummary
    created_at: datetime
    customer_id: str = ""
    """Whom the card belongs to (TokenizeCard's customer_id); "" for no one."""


@dataclass(frozen=True, slots=True)
class StoredCard:
    """A vault row: the token and its sealed card (number, expiry, holder; never the CVC)."""

    token: CardToken
    sealed: Sealed
