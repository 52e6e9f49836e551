"""PaymentService's payment requests -> validated commands (refunds: ``refunds``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from core.api.requests import fields, pages
from core.api.requests.mandates import check_mandate_charge
from core.api.requests.payment_methods import WALLET_KINDS, any_payment_method
from core.api.requests.payment_methods import wallet as wallet_method
from core.api.requests.risk_signals import risk_context
from core.domain import ids
from core.domain.commands import (
    CancelPayment,
    CapturePayment,
    ConfirmPayment,
    CreatePayment,
    PaymentQuery,
    UpdatePayment,
)
from core.domain.errors import ViolationCollector
from core.domain.payment import CaptureMethod, ConfirmationMethod
from core.wire.convert import STATE_FROM_PROTO
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc

_CAPTURE = {
    pb.CAPTURE_METHOD_UNSPECIFIED: CaptureMethod.AUTOMATIC,
    pb.CAPTURE_METHOD_AUTOMATIC: CaptureMethod.AUTOMATIC,
    pb.CAPTURE_METHOD_MANUAL: CaptureMethod.MANUAL,
}
_CONFIRMATION = {
    pb.CONFIRMATION_METHOD_UNSPECIFIED: ConfirmationMethod.AUTOMATIC,
    pb.CONFIRMATION_METHOD_AUTOMATIC: ConfirmationMethod.AUTOMATIC,
    pb.CONFIRMATION_METHOD_MANUAL: ConfirmationMethod.MANUAL,
}


def _enum(v: ViolationCollector, field: str, value: int, known: Mapping[Any, object]) -> None:
    if value not in known:
        v.add(field, f"unknown value {value}")


def create_payment(
    merchant_id: str, request: svc.CreatePaymentRequest, today: date
) -> CreatePayment:
    """Validate a CreatePaymentRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    amount = None
    if not request.HasField("amount"):
        v.add("amount", "required")
    else:
        amount = fields.money(v, "amount", request.amount)
    _enum(v, "capture_method", request.capture_method, _CAPTURE)
    _enum(v, "confirmation_method", request.confirmation_method, _CONFIRMATION)
    confirmation = _CONFIRMATION.get(request.confirmation_method, ConfirmationMethod.AUTOMATIC)
    card, card_token, transfer, wallet = None, "", None, None
    if request.mandate_id or request.off_session:
        check_mandate_charge(v, request, confirmation)
    elif request.payment_method.WhichOneof("kind") in WALLET_KINDS:
        wallet = wallet_method(v, "payment_method", request.payment_method, request.return_url)
        if confirmation is ConfirmationMethod.MANUAL:
            v.add("confirmation_method", "a wallet payment is confirmed at once: use AUTOMATIC")
    elif request.HasField("payment_method") or confirmation is ConfirmationMethod.AUTOMATIC:
        card, card_token, transfer = any_payment_method(
            v, "payment_method", request.payment_method, today
        )
    if transfer is not None and request.capture_method == pb.CAPTURE_METHOD_MANUAL:
        v.add(
            "capture_method",
            "a bank transfer is captured when the money arrives: use CAPTURE_METHOD_AUTOMATIC",
        )
    fields.text(v, "customer_id", request.customer_id, fields.MAX_CUSTOMER_ID)
    fields.text(v, "description", request.description, fields.MAX_DESCRIPTION)
    metadata = fields.metadata(v, "metadata", request.metadata)
    context = risk_context(v, "risk_context", request.risk_context)
    fields.web_url(v, "return_url", request.return_url)
    v.raise_if_any()
    assert amount is not None
    return CreatePayment(
        merchant_id=merchant_id,
        amount=amount,
        card=card,
        capture_method=_CAPTURE[request.capture_method],
        confirmation_method=confirmation,
        customer_id=request.customer_id,
        description=request.description,
        metadata=metadata,
        card_token=card_token,
        risk_context=context,
        bank_transfer=transfer,
        redirect_wallet=wallet,
        mandate_id=request.mandate_id,
        return_url=request.return_url,
    )


def confirm_payment(
    merchant_id: str, request: svc.ConfirmPaymentRequest, today: date
) -> ConfirmPayment:
    """Validate a ConfirmPaymentRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    fields.payment_id(v, request.payment_id)
    card, card_token, transfer = any_payment_method(
        v, "payment_method", request.payment_method, today
    )
    fields.web_url(v, "return_url", request.return_url)
    v.raise_if_any()
    return ConfirmPayment(
        merchant_id, request.payment_id, card, card_token, transfer, request.return_url
    )


def capture_payment(merchant_id: str, request: svc.CapturePaymentRequest) -> CapturePayment:
    """Validate a CapturePaymentRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    fields.payment_id(v, request.payment_id)
    amount = fields.money(v, "amount", request.amount) if request.HasField("amount") else None
    v.raise_if_any()
    return CapturePayment(merchant_id, request.payment_id, amount)


def cancel_payment(merchant_id: str, request: svc.CancelPaymentRequest) -> CancelPayment:
    """Validate a CancelPaymentRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    fields.payment_id(v, request.payment_id)
    fields.text(v, "reason", request.reason, fields.MAX_REASON)
    v.raise_if_any()
    return CancelPayment(merchant_id, request.payment_id, request.reason)


def update_payment(merchant_id: str, request: svc.UpdatePaymentRequest) -> UpdatePayment:
    """Validate an UpdatePaymentRequest; an empty mask means every field that is set."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    fields.payment_id(v, request.payment_id)
    paths = fields.update_paths(
        v,
        request.update_mask.paths,
        {
            "amount": request.HasField("amount"),
            "description": bool(request.description),
            "metadata": bool(request.metadata),
        },
    )
    amount = None
    if "amount" in paths:
        if request.HasField("amount"):
            amount = fields.money(v, "amount", request.amount)
        else:
            v.add("amount", "required when update_mask names it")
    fields.text(v, "description", request.description, fields.MAX_DESCRIPTION)
    metadata = fields.metadata(v, "metadata", request.metadata)
    v.raise_if_any()
    return UpdatePayment(
        merchant_id,
        request.payment_id,
        amount=amount,
        description=request.description if "description" in paths else None,
        metadata=metadata if "metadata" in paths else None,
    )


def get_payment_id(request: svc.GetPaymentRequest) -> str:
    """Validate a GetPaymentRequest; returns the payment id."""
    v = ViolationCollector()
    fields.payment_id(v, request.payment_id)
    v.raise_if_any()
    return request.payment_id


def list_payments(
    merchant_id: str, request: svc.ListPaymentsRequest, token_key: bytes
) -> PaymentQuery:
    """Validate a ListPaymentsRequest (``token_key`` verifies its page token)."""
    v = ViolationCollector()
    if request.page_size < 0:
        v.add("page_size", "must not be negative")
    states = pages.listed_states(v, request.states, STATE_FROM_PROTO)
    fields.text(v, "customer_id", request.customer_id, fields.MAX_CUSTOMER_ID)
    start = end = None
    for name in ("create_time_start", "create_time_end"):
        if request.HasField(name):
            stamp = getattr(request, name)
            moment = fields.timestamp_bound(stamp)
            if moment is None:
                v.add(name, "is not a valid timestamp")
            elif name == "create_time_start":
                start = moment
            else:
                end = moment
    if start is not None and end is not None and start >= end:
        v.add("create_time_end", "must be after create_time_start")
    v.raise_if_any()
    after = (
        pages.decode_page_token(request, merchant_id, token_key, ids.PAYMENT)
        if request.page_token
        else None
    )
    return PaymentQuery(
        merchant_id=merchant_id,
        page_size=pages.page_size(request.page_size),
        states=frozenset(states),
        customer_id=request.customer_id,
        created_from=start,
        created_before=end,
        after=after,
    )
