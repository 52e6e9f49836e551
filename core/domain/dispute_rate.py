"""A merchant's dispute rate over a window, and the closed set of reasons metrics name (pure).

The rate is the card networks' ratio: chargebacks opened in the window per
payment captured in the window (payments created in it that were captured),
in basis points. Disputes opened in a window are mostly of payments of earlier
windows; over a steady month the two even out, which is why the networks count
it so. Inquiries are reported apart: they are not chargebacks (yet).

Amounts are per currency (never summed across currencies); the counts and the
count rate are over all currencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

BASIS_POINTS = 10_000

METRIC_REASONS = frozenset(
    {
        "fraudulent",
        "product_not_received",
        "product_unacceptable",
        "duplicate",
        "subscription_canceled",
        "credit_not_processed",
        "unrecognized",
        "general",
    }
)
"""Dispute reasons a metric names as they are; any other is ``other`` (a channel's reason
is its free text: as a metric attribute it must come from a closed set)."""


def metric_reason(reason: str) -> str:
    """``reason`` as a metric attribute: itself when known, else ``other``."""
    return reason if reason in METRIC_REASONS else "other"


def basis_points(part: int, whole: int) -> int:
    """``part / whole`` in basis points, rounded down (0 when ``whole`` is 0)."""
    return part * BASIS_POINTS // whole if whole else 0


@dataclass(frozen=True, slots=True)
class CurrencyDisputes:
    """One currency's payments captured and disputes opened within the window."""

    currency: str
    captured_payments: int
    captured_amount: int
    """Minor units captured on those payments."""
    disputes: int
    """Chargebacks opened (an inquiry that became one counts)."""
    disputed_amount: int
    inquiries: int

    @property
    def amount_rate_basis_points(self) -> int:
        """Disputed amount per captured amount, in basis points."""
        return basis_points(self.disputed_amount, self.captured_amount)


@dataclass(frozen=True, slots=True)
class DisputeRate:
    """A merchant's disputes per captured payment within [start, end)."""

    start: datetime
    end: datetime
    by_currency: tuple[CurrencyDisputes, ...]
    """Ordered by currency code; a currency with neither payments nor disputes is left out."""

    @property
    def captured_payments(self) -> int:
        """Payments captured, all currencies."""
        return sum(c.captured_payments for c in self.by_currency)

    @property
    def disputes(self) -> int:
        """Chargebacks opened, all currencies."""
        return sum(c.disputes for c in self.by_currency)

    @property
    def inquiries(self) -> int:
        """Inquiries opened, all currencies."""
        return sum(c.inquiries for c in self.by_currency)

    @property
    def rate_basis_points(self) -> int:
        """Chargebacks per captured payment, in basis points (100 = 1 %)."""
        return basis_points(self.disputes, self.captured_payments)
