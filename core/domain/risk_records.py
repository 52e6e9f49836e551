"""Values of risk screening: block/allow list entries and payments held for review."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.domain.payment import Payment


class ListName(enum.Enum):
    """Which list an entry is on."""

    BLOCK = "block"
    ALLOW = "allow"


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One block or allow list entry of a merchant.

    ``kind`` is one of ``riskengine.features.LIST_KINDS``; BIN entries match
    as prefixes, emails are stored lower case.
    """

    id: str
    merchant_id: str
    list: ListName
    kind: str
    value: str
    reason: str
    created_at: datetime

    def snapshot(self) -> dict[str, str]:
        """The entry as an audit record shows it."""
        return {
            "id": self.id,
            "list": self.list.value,
            "kind": self.kind,
            "value": self.value,
            "reason": self.reason,
        }


class ReviewStatus(enum.Enum):
    """Where a held payment is in the review queue."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Review:
    """A payment held by a REVIEW decision, and the card it will be sent with."""

    merchant_id: str
    payment_id: str
    card_token: str
    status: ReviewStatus
    created_at: datetime
    note: str = ""
    decided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueuedReview:
    """A pending review with its payment, as ListReviews shows it."""

    review: Review
    payment: Payment
