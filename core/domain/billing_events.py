"""Which events subscriptions and invoices produce (issue 20; pure).

The application appends them in the transaction of the change they report
(core/service/subscriptions.py, core/service/billing.py), through the same
outbox as payments' events: numbered per merchant, delivered by webhook and
on the event stream. A subscription's change is compared before and after
(``subscription_events``), as core/events/derive.py does for payments;
invoices' events are named where billing decides them.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.invoices import Invoice
from core.domain.subscriptions import Subscription, SubscriptionStatus

SUBSCRIPTION_CREATED = "subscription.created"
SUBSCRIPTION_UPDATED = "subscription.updated"
SUBSCRIPTION_CANCELED = "subscription.canceled"
INVOICE_CREATED = "invoice.created"
INVOICE_PAID = "invoice.paid"
INVOICE_PAYMENT_FAILED = "invoice.payment_failed"

BILLING_EVENT_TYPES: tuple[str, ...] = (
    SUBSCRIPTION_CREATED,
    SUBSCRIPTION_UPDATED,
    SUBSCRIPTION_CANCELED,
    INVOICE_CREATED,
    INVOICE_PAID,
    INVOICE_PAYMENT_FAILED,
)


@dataclass(frozen=True, slots=True)
class BillingEvent:
    """An event to append: its type and the subscription or invoice right after the change."""

    type: str
    subscription: Subscription
    invoice: Invoice | None = None
    """The invoice an ``invoice.*`` event is about (None for ``subscription.*``)."""

    @property
    def resource_type(self) -> str:
        """``invoice`` or ``subscription``."""
        return "invoice" if self.invoice is not None else "subscription"

    @property
    def resource_id(self) -> str:
        """The id of the invoice or subscription the event is about."""
        return self.invoice.id if self.invoice is not None else self.subscription.id


def _shown(subscription: Subscription) -> tuple[object, ...]:
    # What a merchant sees change: status, price, quantity, card or mandate, the
    # end-of-period flag.
    s = subscription
    return (
        s.status,
        s.price.id,
        s.quantity,
        s.payment_method,
        s.mandate_id,
        s.cancel_at_period_end,
    )


def subscription_events(before: Subscription | None, after: Subscription) -> list[BillingEvent]:
    """The events of ``before`` (None: new) becoming ``after``.

    A renewal that only moves the period is not news (``invoice.paid`` says it).
    """
    if before is None:
        return [BillingEvent(SUBSCRIPTION_CREATED, after)]
    if after.status is SubscriptionStatus.CANCELED and before.status is not after.status:
        return [BillingEvent(SUBSCRIPTION_CANCELED, after)]
    if _shown(before) != _shown(after):
        return [BillingEvent(SUBSCRIPTION_UPDATED, after)]
    return []
