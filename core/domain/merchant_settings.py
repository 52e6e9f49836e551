"""A merchant's settings, managed by its admins (pure values).

A merchant that never changed its settings has the defaults below; storage
keeps a row only once an admin updates something.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.domain.money import Money


@dataclass(frozen=True, slots=True)
class MerchantSettings:
    """What a merchant's admins decided; every field has a safe default."""

    merchant_id: str
    refund_review_thresholds: tuple[Money, ...] = ()
    """At most one per currency: a refund of MORE than the threshold in its
    currency waits for an admin's review. No threshold for a currency means no
    review by amount in that currency."""
    updated_at: datetime | None = None
    """When an admin last changed them; None while they are the defaults."""

    def __post_init__(self) -> None:
        currencies = [threshold.currency for threshold in self.refund_review_thresholds]
        if len(set(currencies)) != len(currencies):
            raise ValueError("at most one refund review threshold per currency")

    def refund_review_threshold(self, currency: str) -> Money | None:
        """The review threshold for refunds in ``currency``; None when there is none."""
        for threshold in self.refund_review_thresholds:
            if threshold.currency == currency:
                return threshold
        return None

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready view for the audit trail (amounts in minor units)."""
        return {
            "refund_review_thresholds": [
                {"currency": t.currency, "amount_minor": t.amount}
                for t in self.refund_review_thresholds
            ]
        }


@dataclass(frozen=True, slots=True)
class MerchantSettingsUpdate:
    """UpdateMerchantSettings as the service sees it: the fields to replace (None: keep)."""

    merchant_id: str
    refund_review_thresholds: tuple[Money, ...] | None = None

    def apply(self, current: MerchantSettings, at: datetime) -> MerchantSettings:
        """``current`` with this update's fields replaced."""
        thresholds = current.refund_review_thresholds
        if self.refund_review_thresholds is not None:
            thresholds = self.refund_review_thresholds
        return MerchantSettings(
            merchant_id=current.merchant_id, refund_review_thresholds=thresholds, updated_at=at
        )
