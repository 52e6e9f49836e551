"""Whether a refund waits for an admin's review before it is sent to a channel (pure).

Two things can hold a refund: its amount (more than the merchant's threshold
in that currency, see ``MerchantSettings``) and the risk engine. The risk
engine's say arrives through ``RefundRiskCheck``; until it has one, the
default ``NoRefundRiskFlags`` flags nothing.
"""

from __future__ import annotations

from typing import Protocol

from core.domain.money import Money
from core.domain.payment import Payment


def refund_needs_review(amount: Money, threshold: Money | None, risk_flagged: bool) -> bool:
    """Whether a refund of ``amount`` must wait in PENDING_REVIEW.

    Strictly MORE than ``threshold`` is held (a threshold of 100.00 lets a
    refund of exactly 100.00 through); a threshold in another currency does
    not apply; ``risk_flagged`` holds any amount.
    """
    if risk_flagged:
        return True
    if threshold is None or threshold.currency != amount.currency:
        return False
    return amount > threshold


class RefundRiskCheck(Protocol):
    """The risk engine's view of a refund about to be made (pure, no I/O)."""

    def flags_refund(self, payment: Payment, amount: Money) -> bool:
        """True when a refund of ``amount`` on ``payment`` needs a person's look."""
        ...


class NoRefundRiskFlags:
    """The default RefundRiskCheck: the risk engine flags no refund."""

    def flags_refund(self, payment: Payment, amount: Money) -> bool:
        """Never flags."""
        return False
