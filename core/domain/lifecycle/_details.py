"""A payment's details: description and metadata in any state, amount before confirmation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from core.domain.evolve import evolve
from core.domain.lifecycle._transitions import check_currency, require
from core.domain.money import Money
from core.domain.payment import Payment


def update_details(
    payment: Payment,
    at: datetime,
    *,
    amount: Money | None = None,
    description: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Payment:
    """Change description and metadata (any state) or amount (before confirmation)."""
    changes: dict[str, object] = {"updated_at": at}
    if amount is not None:
        require(payment, "update_amount")
        check_currency(payment, amount)
        changes["amount"] = amount
    if description is not None:
        changes["description"] = description
    if metadata is not None:
        changes["metadata"] = metadata
    return evolve(payment, **changes)
