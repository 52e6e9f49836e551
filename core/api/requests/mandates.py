"""MandateService requests -> validated commands (core/domain/mandates.py), and
the mandate fields of CreatePaymentRequest."""

from __future__ import annotations

from datetime import UTC, datetime

from core.api.requests import fields
from core.api.requests.pages import cursor_page
from core.domain import ids
from core.domain.errors import ViolationCollector
from core.domain.mandates import (
    Frequency,
    Interval,
    MandateScope,
    MandateUsage,
    PaymentMethodQuery,
    SetupPaymentMethod,
)
from core.domain.payment import ConfirmationMethod
from paycore.v1 import mandate_service_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc

MAX_INTERVAL_COUNT = 366

_USAGE = {
    pb.MandateScope.USAGE_SINGLE_USE: MandateUsage.SINGLE_USE,
    pb.MandateScope.USAGE_MULTI_USE: MandateUsage.MULTI_USE,
}
_INTERVAL = {
    pb.MandateScope.INTERVAL_DAY: Interval.DAY,
    pb.MandateScope.INTERVAL_WEEK: Interval.WEEK,
    pb.MandateScope.INTERVAL_MONTH: Interval.MONTH,
    pb.MandateScope.INTERVAL_YEAR: Interval.YEAR,
}
_LAST_TIMESTAMP_S = 253402300799  # 9999-12-31T23:59:59Z, the end of Timestamp's range


def _id(v: ViolationCollector, field: str, prefix: str, value: str, what: str) -> None:
    if not value:
        v.add(field, "required")
    elif not ids.is_valid(prefix, value):
        v.add(field, f"must be {what}: {prefix}_ followed by 26 base32 characters")


def _scope(
    v: ViolationCollector, request: pb.SetupPaymentMethodRequest, now: datetime
) -> MandateScope | None:
    """The mandate's terms; None (with violations) when any is bad."""
    if not request.HasField("scope"):
        v.add("scope", "required")
        return None
    scope = request.scope
    usage = _USAGE.get(scope.usage)
    if usage is None:
        v.add("scope.usage", "required: USAGE_SINGLE_USE or USAGE_MULTI_USE")
    max_amount = None
    if not scope.HasField("max_amount"):
        v.add("scope.max_amount", "required")
    else:
        max_amount = fields.money(v, "scope.max_amount", scope.max_amount)
    interval = None
    if scope.interval != pb.MandateScope.INTERVAL_UNSPECIFIED:
        interval = _INTERVAL.get(scope.interval)
        if interval is None:
            v.add("scope.interval", f"unknown value {scope.interval}")
        if not 0 <= scope.interval_count <= MAX_INTERVAL_COUNT:
            v.add("scope.interval_count", f"must be between 0 and {MAX_INTERVAL_COUNT}")
    elif scope.interval_count:
        v.add("scope.interval_count", "must be 0 when the mandate is unscheduled")
    expires_at = None
    if scope.HasField("expire_time"):
        stamp = scope.expire_time
        if not 0 < stamp.seconds <= _LAST_TIMESTAMP_S or not 0 <= stamp.nanos < 1_000_000_000:
            v.add("scope.expire_time", "must be a valid timestamp")
        else:
            expires_at = stamp.ToDatetime(tzinfo=UTC)
            if expires_at <= now:
                v.add("scope.expire_time", "must be in the future")
    if usage is None or max_amount is None:
        return None
    frequency = Frequency(interval, max(scope.interval_count, 1))
    return MandateScope(usage, max_amount, frequency, expires_at)


def setup_payment_method(
    merchant_id: str, request: pb.SetupPaymentMethodRequest, now: datetime
) -> SetupPaymentMethod:
    """Validate a SetupPaymentMethodRequest, every bad field at once."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _id(v, "customer_id", ids.CUSTOMER, request.customer_id, "a customer id")
    if not request.card_token:
        v.add("card_token", "required")
    else:
        fields.token_id(v, "card_token", request.card_token)
    scope = _scope(v, request, now)
    v.raise_if_any()
    assert scope is not None
    return SetupPaymentMethod(merchant_id, request.customer_id, request.card_token, scope)


def mandate_id_of(request: pb.RevokeMandateRequest) -> str:
    """Validate a RevokeMandateRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _id(v, "mandate_id", ids.MANDATE, request.mandate_id, "a mandate id")
    v.raise_if_any()
    return request.mandate_id


def list_scope(merchant_id: str, request: pb.ListPaymentMethodsRequest) -> str:
    """What a ListPaymentMethods page token is valid for: this merchant and customer."""
    return f"ListPaymentMethods:{merchant_id}:{request.customer_id}"


def list_payment_methods(
    merchant_id: str, request: pb.ListPaymentMethodsRequest, key: bytes
) -> PaymentMethodQuery:
    """Validate a ListPaymentMethodsRequest; its page token must be one paycore issued for it."""
    v = ViolationCollector()
    _id(v, "customer_id", ids.CUSTOMER, request.customer_id, "a customer id")
    v.raise_if_any()
    size, after = cursor_page(
        request.page_size, request.page_token, key, list_scope(merchant_id, request)
    )
    return PaymentMethodQuery(merchant_id, request.customer_id, size, after_token=after)


def check_mandate_charge(
    v: ViolationCollector, request: svc.CreatePaymentRequest, confirmation: ConfirmationMethod
) -> None:
    """CreatePayment's ``mandate_id`` and ``off_session``: both or neither, and nothing
    the mandate gives (the payment method) or forbids (manual confirmation)."""
    if not request.off_session:
        v.add("off_session", "required with mandate_id: a mandate pays off-session charges")
    if not request.mandate_id:
        v.add("mandate_id", "required with off_session: the mandate the merchant charges under")
    else:
        _id(v, "mandate_id", ids.MANDATE, request.mandate_id, "a mandate id")
    if request.HasField("payment_method"):
        v.add("payment_method", "must be unset with mandate_id: the mandate gives the card")
    if confirmation is not ConfirmationMethod.AUTOMATIC:
        v.add("confirmation_method", "must be automatic with mandate_id")
