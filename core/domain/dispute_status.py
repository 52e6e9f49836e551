"""Where a dispute stands: apart from core/domain/disputes.py, which builds on payments,
so that a payment can show its disputes' states too (``Payment.disputes``)."""

from __future__ import annotations

import enum


class DisputeStatus(enum.Enum):
    """Where a dispute stands (the stored value is the string)."""

    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"
    CLOSED = "closed"
    """An inquiry that ended without a chargeback."""

    @property
    def is_final(self) -> bool:
        """Whether nothing can change the dispute any more."""
        return self in (DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.CLOSED)
