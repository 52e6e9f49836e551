"""SubscriptionService's optional arguments and requests (as _requests.py does for payments).

Each write gets its ``request_id`` here, once per logical call, so the client's
retries of one call repeat the very same request.
"""

from __future__ import annotations

from datetime import datetime

from google.protobuf.field_mask_pb2 import FieldMask
from google.type.money_pb2 import Money

from paycore.v1 import subscription_pb2 as sub_pb
from paycore.v1 import subscription_service_pb2 as pb

from ._requests import WriteOptions, _timestamp, _with_request_id

INTERVALS = {
    "day": sub_pb.Price.INTERVAL_DAY,
    "week": sub_pb.Price.INTERVAL_WEEK,
    "month": sub_pb.Price.INTERVAL_MONTH,
    "year": sub_pb.Price.INTERVAL_YEAR,
}


class PriceOptions(WriteOptions, total=False):
    """Optional fields of ``create_price``."""

    interval_count: int
    """How many intervals one period lasts, 1 to 365 (default 1)."""
    trial_days: int
    """Free trial days of new subscriptions, 0 to 730."""


class SubscriptionOptions(WriteOptions, total=False):
    """Optional fields of ``create_subscription``."""

    quantity: int
    """Units billed each period (default 1)."""
    payment_method: str
    """A card token (``tok_...``); default: the customer's default payment method."""
    mandate_id: str
    """A multi-use mandate of the customer (``man_...``): each renewal is then a
    merchant-initiated charge under it. Not together with ``payment_method``."""
    when_dunning_ends: sub_pb.Subscription.WhenDunningEnds.ValueType
    """``WHEN_DUNNING_ENDS_CANCEL`` (default) or ``WHEN_DUNNING_ENDS_MARK_UNPAID``."""


class SubscriptionChangeOptions(WriteOptions, total=False):
    """Fields of ``update_subscription``: exactly those given change."""

    price_id: str
    """A price of the same interval and currency (the change is prorated)."""
    quantity: int
    """A new quantity (prorated)."""
    payment_method: str
    """A card token; "" for the customer's default. A past_due subscription retries with it."""
    mandate_id: str
    """A mandate to renew under (clears the card token); "" for none."""


def create_price(
    product_name: str, amount: Money, interval: str, options: PriceOptions
) -> pb.CreatePriceRequest:
    """A CreatePriceRequest; ``interval`` is "day", "week", "month" or "year"."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    return pb.CreatePriceRequest(
        product_name=product_name,
        amount=amount,
        interval=INTERVALS[interval],
        **_with_request_id(options),
    )


def create_subscription(
    customer_id: str, price_id: str, start_time: datetime | None, options: SubscriptionOptions
) -> pb.CreateSubscriptionRequest:
    """A CreateSubscriptionRequest with a request_id (``start_time`` None: now)."""
    return pb.CreateSubscriptionRequest(
        customer_id=customer_id,
        price_id=price_id,
        start_time=_timestamp("start_time", start_time),
        **_with_request_id(options),
    )


def update_subscription(
    subscription_id: str, options: SubscriptionChangeOptions
) -> pb.UpdateSubscriptionRequest:
    """An UpdateSubscriptionRequest whose mask names exactly the fields given (ValueError: none)."""
    mask = [name for name in options if name != "request_id"]
    if not mask:
        raise ValueError("give at least one of price_id, quantity, payment_method, mandate_id")
    return pb.UpdateSubscriptionRequest(
        subscription_id=subscription_id,
        update_mask=FieldMask(paths=mask),
        **_with_request_id(options),
    )


def cancel_subscription(
    subscription_id: str, at_period_end: bool, options: WriteOptions
) -> pb.CancelSubscriptionRequest:
    """A CancelSubscriptionRequest with a request_id."""
    return pb.CancelSubscriptionRequest(
        subscription_id=subscription_id, at_period_end=at_period_end, **_with_request_id(options)
    )


def pause_subscription(subscription_id: str, options: WriteOptions) -> pb.PauseSubscriptionRequest:
    """A PauseSubscriptionRequest with a request_id."""
    return pb.PauseSubscriptionRequest(subscription_id=subscription_id, **_with_request_id(options))


def resume_subscription(
    subscription_id: str, options: WriteOptions
) -> pb.ResumeSubscriptionRequest:
    """A ResumeSubscriptionRequest with a request_id."""
    return pb.ResumeSubscriptionRequest(
        subscription_id=subscription_id, **_with_request_id(options)
    )


def advance_test_clock(to_time: datetime, options: WriteOptions) -> pb.AdvanceTestClockRequest:
    """An AdvanceTestClockRequest with a request_id (``to_time`` timezone-aware)."""
    return pb.AdvanceTestClockRequest(
        to_time=_timestamp("to_time", to_time), **_with_request_id(options)
    )
