"""SubscriptionService requests -> validated commands (core/domain/subscriptions.py)."""

from __future__ import annotations

from datetime import datetime

from google.protobuf import timestamp_pb2

from core.api.requests import fields
from core.api.requests.pages import cursor_page
from core.domain import ids
from core.domain.billing_periods import LATEST
from core.domain.errors import ViolationCollector
from core.domain.subscription_commands import (
    CreatePrice,
    CreateSubscription,
    InvoiceQuery,
    PriceQuery,
    SubscriptionQuery,
    UpdateSubscription,
)
from core.wire.subscriptions import interval_from_proto, when_dunning_ends_from_proto
from paycore.v1 import subscription_service_pb2 as pb

MAX_PRODUCT_NAME = 255
MAX_INTERVAL_COUNT = 365
MAX_TRIAL_DAYS = 730
MAX_QUANTITY = 10_000


def _id(
    v: ViolationCollector, field: str, value: str, prefix: str, *, required: bool = True
) -> None:
    if not value:
        if required:
            v.add(field, "required")
    elif not ids.is_valid(prefix, value):
        v.add(field, f"must be an id: {prefix}_ followed by 26 base32 characters")


def _within(v: ViolationCollector, field: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        v.add(field, f"must be from {low} to {high}")


def _billing_time(
    v: ViolationCollector, field: str, stamp: timestamp_pb2.Timestamp
) -> datetime | None:
    """A time billing counts periods from, before ``LATEST`` (no period may overflow)."""
    at = fields.timestamp_bound(stamp)
    if at is None:
        v.add(field, "must be a valid timestamp")
    elif at >= LATEST:
        v.add(field, f"must be before {LATEST:%Y-%m-%dT%H:%M:%SZ}")
        return None
    return at


def _one_way_to_pay(v: ViolationCollector, payment_method: str, mandate_id: str) -> None:
    # A subscription pays under a mandate (which names its card) or with a card token,
    # never both: refused rather than one silently winning.
    if payment_method and mandate_id:
        v.add("mandate_id", "excludes payment_method: the mandate names the card it charges")


def create_price(merchant_id: str, request: pb.CreatePriceRequest) -> CreatePrice:
    """Validate a CreatePriceRequest, every bad field at once."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    if not request.product_name.strip():
        v.add("product_name", "required")
    fields.text(v, "product_name", request.product_name, MAX_PRODUCT_NAME)
    amount = None
    if not request.HasField("amount"):
        v.add("amount", "required")
    else:
        amount = fields.money(v, "amount", request.amount, positive=False)
    interval = interval_from_proto(request.interval)
    if interval is None:
        v.add("interval", "required: INTERVAL_DAY, INTERVAL_WEEK, INTERVAL_MONTH or INTERVAL_YEAR")
    count = request.interval_count or 1
    _within(v, "interval_count", count, 1, MAX_INTERVAL_COUNT)
    _within(v, "trial_days", request.trial_days, 0, MAX_TRIAL_DAYS)
    v.raise_if_any()
    assert amount is not None and interval is not None  # raise_if_any passed
    return CreatePrice(
        merchant_id,
        request.product_name,
        amount.amount,
        amount.currency,
        interval,
        interval_count=count,
        trial_days=request.trial_days,
    )


def create_subscription(
    merchant_id: str, request: pb.CreateSubscriptionRequest
) -> CreateSubscription:
    """Validate a CreateSubscriptionRequest, every bad field at once."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _id(v, "customer_id", request.customer_id, ids.CUSTOMER)
    _id(v, "price_id", request.price_id, ids.PRICE)
    quantity = request.quantity or 1
    _within(v, "quantity", quantity, 1, MAX_QUANTITY)
    if request.payment_method:
        fields.token_id(v, "payment_method", request.payment_method)
    _id(v, "mandate_id", request.mandate_id, ids.MANDATE, required=False)
    _one_way_to_pay(v, request.payment_method, request.mandate_id)
    start: datetime | None = None
    if request.HasField("start_time"):
        start = _billing_time(v, "start_time", request.start_time)
    when_dunning_ends = when_dunning_ends_from_proto(request.when_dunning_ends)
    if when_dunning_ends is None:
        v.add("when_dunning_ends", "must be WHEN_DUNNING_ENDS_CANCEL or _MARK_UNPAID")
    v.raise_if_any()
    assert when_dunning_ends is not None  # raise_if_any passed
    return CreateSubscription(
        merchant_id,
        request.customer_id,
        request.price_id,
        quantity=quantity,
        payment_method=request.payment_method,
        mandate_id=request.mandate_id,
        start=start,
        when_dunning_ends=when_dunning_ends,
    )


def update_subscription(
    merchant_id: str, request: pb.UpdateSubscriptionRequest
) -> UpdateSubscription:
    """Validate an UpdateSubscriptionRequest; an empty mask means every field that is set."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _id(v, "subscription_id", request.subscription_id, ids.SUBSCRIPTION)
    paths = fields.update_paths(
        v,
        request.update_mask.paths,
        {
            "price_id": bool(request.price_id),
            "quantity": bool(request.quantity),
            "payment_method": bool(request.payment_method),
            "mandate_id": bool(request.mandate_id),
        },
    )
    if "price_id" in paths:
        _id(v, "price_id", request.price_id, ids.PRICE)
    if "quantity" in paths:
        _within(v, "quantity", request.quantity, 1, MAX_QUANTITY)
    if "payment_method" in paths and request.payment_method:  # "" is the customer's default
        fields.token_id(v, "payment_method", request.payment_method)
    if "mandate_id" in paths:  # "" removes the mandate
        _id(v, "mandate_id", request.mandate_id, ids.MANDATE, required=False)
    if "payment_method" in paths and "mandate_id" in paths:
        _one_way_to_pay(v, request.payment_method, request.mandate_id)
    v.raise_if_any()
    return UpdateSubscription(
        merchant_id,
        request.subscription_id,
        price_id=request.price_id if "price_id" in paths else None,
        quantity=request.quantity if "quantity" in paths else None,
        payment_method=request.payment_method if "payment_method" in paths else None,
        mandate_id=request.mandate_id if "mandate_id" in paths else None,
    )


def subscription_id_of(
    request: pb.GetSubscriptionRequest
    | pb.CancelSubscriptionRequest
    | pb.PauseSubscriptionRequest
    | pb.ResumeSubscriptionRequest,
) -> str:
    """Validate a request naming one subscription (and, for a mutation, its request_id)."""
    v = ViolationCollector()
    if not isinstance(request, pb.GetSubscriptionRequest):
        fields.request_id(v, request.request_id)
    _id(v, "subscription_id", request.subscription_id, ids.SUBSCRIPTION)
    v.raise_if_any()
    return request.subscription_id


def membership_of(request: pb.GetMembershipStatusRequest) -> tuple[str, str]:
    """Validate a GetMembershipStatusRequest: (subscription_id, customer_id), exactly one set."""
    v = ViolationCollector()
    if bool(request.subscription_id) == bool(request.customer_id):
        v.add("subscription_id", "set exactly one of subscription_id and customer_id")
    _id(v, "subscription_id", request.subscription_id, ids.SUBSCRIPTION, required=False)
    _id(v, "customer_id", request.customer_id, ids.CUSTOMER, required=False)
    v.raise_if_any()
    return request.subscription_id, request.customer_id


def advance_test_clock(request: pb.AdvanceTestClockRequest) -> datetime:
    """Validate an AdvanceTestClockRequest: the clock's new time."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    to_time = None
    if request.HasField("to_time"):
        to_time = _billing_time(v, "to_time", request.to_time)
    else:
        v.add("to_time", "required: a valid timestamp")
    v.raise_if_any()
    assert to_time is not None  # raise_if_any passed
    return to_time


def price_id_of(request: pb.GetPriceRequest) -> str:
    """Validate a GetPriceRequest: its price id."""
    v = ViolationCollector()
    _id(v, "price_id", request.price_id, ids.PRICE)
    v.raise_if_any()
    return request.price_id


def list_prices_scope(merchant_id: str) -> str:
    """What a ListPrices page token is valid for: this merchant."""
    return f"ListPrices:{merchant_id}"


def list_prices(merchant_id: str, request: pb.ListPricesRequest, key: bytes) -> PriceQuery:
    """Validate a ListPricesRequest; its page token must be one paycore issued for it."""
    size, before = cursor_page(
        request.page_size, request.page_token, key, list_prices_scope(merchant_id)
    )
    return PriceQuery(merchant_id, size, before_id=before)


def list_subscriptions_scope(merchant_id: str, request: pb.ListSubscriptionsRequest) -> str:
    """What a ListSubscriptions page token is valid for: this merchant and these filters."""
    return f"ListSubscriptions:{merchant_id}:{request.customer_id}"


def list_subscriptions(
    merchant_id: str, request: pb.ListSubscriptionsRequest, key: bytes
) -> SubscriptionQuery:
    """Validate a ListSubscriptionsRequest; its page token must be one paycore issued for it."""
    v = ViolationCollector()
    _id(v, "customer_id", request.customer_id, ids.CUSTOMER, required=False)
    v.raise_if_any()
    size, before = cursor_page(
        request.page_size, request.page_token, key, list_subscriptions_scope(merchant_id, request)
    )
    return SubscriptionQuery(merchant_id, size, before_id=before, customer_id=request.customer_id)


def list_invoices_scope(merchant_id: str, request: pb.ListInvoicesRequest) -> str:
    """What a ListInvoices page token is valid for: this merchant and subscription."""
    return f"ListInvoices:{merchant_id}:{request.subscription_id}"


def list_invoices(merchant_id: str, request: pb.ListInvoicesRequest, key: bytes) -> InvoiceQuery:
    """Validate a ListInvoicesRequest; its page token must be one paycore issued for it."""
    v = ViolationCollector()
    _id(v, "subscription_id", request.subscription_id, ids.SUBSCRIPTION)
    v.raise_if_any()
    size, before = cursor_page(
        request.page_size, request.page_token, key, list_invoices_scope(merchant_id, request)
    )
    return InvoiceQuery(merchant_id, request.subscription_id, size, before_id=before)
