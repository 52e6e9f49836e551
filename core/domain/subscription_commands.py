"""What a SubscriptionService request asks for, validated (pure): the commands and queries,
and the merchant's choice among them of what dunning ends in (``WhenDunningEnds``).

core/api/requests/subscriptions.py builds them from the protos; the use cases
(core/service/subscriptions.py) carry them out by the rules of
core/domain/subscriptions.py.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from core.domain.billing_periods import Interval


class WhenDunningEnds(enum.Enum):
    """What the last failed retry of an invoice does to its subscription."""

    CANCEL = "canceled"
    MARK_UNPAID = "unpaid"


@dataclass(frozen=True, slots=True)
class CreatePrice:
    """CreatePrice, validated (the product is named on the price: no product object)."""

    merchant_id: str
    product_name: str
    amount: int
    currency: str
    interval: Interval
    interval_count: int = 1
    trial_days: int = 0


@dataclass(frozen=True, slots=True)
class CreateSubscription:
    """CreateSubscription, validated."""

    merchant_id: str
    customer_id: str
    price_id: str
    quantity: int = 1
    payment_method: str = ""
    mandate_id: str = ""
    """A multi-use mandate of the customer; excludes ``payment_method``."""
    start: datetime | None = None
    """None: now (the merchant's test clock's now, when it has one)."""
    when_dunning_ends: WhenDunningEnds = WhenDunningEnds.CANCEL


@dataclass(frozen=True, slots=True)
class UpdateSubscription:
    """UpdateSubscription, validated: None leaves a field as it is."""

    merchant_id: str
    subscription_id: str
    price_id: str | None = None
    quantity: int | None = None
    payment_method: str | None = None
    """A card token, or "" for the customer's default payment method (clears the mandate)."""
    mandate_id: str | None = None
    """A mandate to charge under (clears the card token), or "" for none."""

    @property
    def changes_amount(self) -> bool:
        """Whether the period's amount may change (a mandate must still allow it)."""
        return self.price_id is not None or self.quantity is not None


@dataclass(frozen=True, slots=True)
class SubscriptionQuery:
    """One ListSubscriptions page: newest first, after the cursor."""

    merchant_id: str
    page_size: int
    before_id: str = ""
    """Keyset cursor: subscriptions with a smaller id (ids are time-ordered); "" from the top."""
    customer_id: str = ""
    """Only this customer's; "" for all."""


@dataclass(frozen=True, slots=True)
class PriceQuery:
    """One ListPrices page: newest first, after the cursor."""

    merchant_id: str
    page_size: int
    before_id: str = ""
    """Keyset cursor: prices with a smaller id (ids are time-ordered); "" from the top."""


@dataclass(frozen=True, slots=True)
class InvoiceQuery:
    """One ListInvoices page of one subscription: newest first, after the cursor."""

    merchant_id: str
    subscription_id: str
    page_size: int
    before_id: str = ""
