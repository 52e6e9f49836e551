"""Prices, subscriptions and invoices (core/domain/subscriptions.py, invoices.py) as messages.

The enums' names match by construction: ``Interval.MONTH`` is
``INTERVAL_MONTH``, ``SubscriptionStatus.PAST_DUE`` is ``STATUS_PAST_DUE``.
"""

from __future__ import annotations

from core.domain.billing_events import BillingEvent
from core.domain.billing_periods import Interval
from core.domain.invoices import Invoice
from core.domain.money import Money
from core.domain.subscription_commands import WhenDunningEnds
from core.domain.subscriptions import Price, Subscription
from core.wire.convert import money_to_proto, timestamp
from paycore.v1 import subscription_pb2 as pb


def interval_to_proto(interval: Interval) -> pb.Price.Interval.ValueType:
    """``Interval.MONTH`` -> ``INTERVAL_MONTH``."""
    return pb.Price.Interval.Value(f"INTERVAL_{interval.name}")


_INTERVALS: dict[int, Interval] = {
    pb.Price.INTERVAL_DAY: Interval.DAY,
    pb.Price.INTERVAL_WEEK: Interval.WEEK,
    pb.Price.INTERVAL_MONTH: Interval.MONTH,
    pb.Price.INTERVAL_YEAR: Interval.YEAR,
}
_WHEN_DUNNING_ENDS: dict[int, WhenDunningEnds] = {
    pb.Subscription.WHEN_DUNNING_ENDS_UNSPECIFIED: WhenDunningEnds.CANCEL,
    pb.Subscription.WHEN_DUNNING_ENDS_CANCEL: WhenDunningEnds.CANCEL,
    pb.Subscription.WHEN_DUNNING_ENDS_MARK_UNPAID: WhenDunningEnds.MARK_UNPAID,
}


def interval_from_proto(value: int) -> Interval | None:
    """The domain interval of a wire value; None for UNSPECIFIED or an unknown number."""
    return _INTERVALS.get(value)


def when_dunning_ends_from_proto(value: int) -> WhenDunningEnds | None:
    """The merchant's choice on the wire; UNSPECIFIED is the default (cancel), unknown None."""
    return _WHEN_DUNNING_ENDS.get(value)


def price_to_proto(price: Price) -> pb.Price:
    """A price as SubscriptionService shows it."""
    return pb.Price(
        id=price.id,
        product_name=price.product_name,
        amount=money_to_proto(Money(price.amount, price.currency)),
        interval=interval_to_proto(price.interval),
        interval_count=price.interval_count,
        trial_days=price.trial_days,
        create_time=timestamp(price.created_at),
    )


def subscription_to_proto(subscription: Subscription) -> pb.Subscription:
    """A subscription as SubscriptionService (and its events) show it."""
    s = subscription
    message = pb.Subscription(
        id=s.id,
        customer_id=s.customer_id,
        price=price_to_proto(s.price),
        quantity=s.quantity,
        payment_method=s.payment_method,
        mandate_id=s.mandate_id,
        status=pb.Subscription.Status.Value(f"STATUS_{s.status.name}"),
        active=s.is_active,
        current_period_start=timestamp(s.current_period_start),
        current_period_end=timestamp(s.current_period_end),
        cancel_at_period_end=s.cancel_at_period_end,
        pending_proration=s.pending_proration,
        when_dunning_ends=pb.Subscription.WhenDunningEnds.Value(
            f"WHEN_DUNNING_ENDS_{s.when_dunning_ends.name}"
        ),
        create_time=timestamp(s.created_at),
        update_time=timestamp(s.updated_at),
    )
    if s.next_billing_at is not None:
        message.next_billing_time.CopyFrom(timestamp(s.next_billing_at))
    if s.canceled_at is not None:
        message.cancel_time.CopyFrom(timestamp(s.canceled_at))
    return message


def invoice_to_proto(invoice: Invoice) -> pb.Invoice:
    """An invoice as ListInvoices (and its events) show it."""
    message = pb.Invoice(
        id=invoice.id,
        subscription_id=invoice.subscription_id,
        period_start=timestamp(invoice.period_start),
        period_end=timestamp(invoice.period_end),
        amount=money_to_proto(Money(invoice.amount, invoice.currency)),
        status=pb.Invoice.Status.Value(f"STATUS_{invoice.status.name}"),
        attempts=invoice.attempts,
        payment_id=invoice.payment_id,
        failure_code=invoice.failure_code,
        create_time=timestamp(invoice.created_at),
        update_time=timestamp(invoice.updated_at),
    )
    if invoice.next_attempt_at is not None:
        message.next_attempt_time.CopyFrom(timestamp(invoice.next_attempt_at))
    return message


def billing_event_snapshot(event: BillingEvent) -> bytes:
    """What a subscription's or an invoice's event keeps: the resource as the API shows it."""
    message = (
        subscription_to_proto(event.subscription)
        if event.invoice is None
        else invoice_to_proto(event.invoice)
    )
    return message.SerializeToString(deterministic=True)
