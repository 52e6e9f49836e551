"""PaymentService's refund requests -> validated commands: refund, list, review."""

from __future__ import annotations

from core.api.requests import fields, pages
from core.domain import ids
from core.domain.commands import RefundPayment, RefundQuery, ReviewRefund
from core.domain.errors import ViolationCollector
from core.wire.convert import REFUND_STATE_FROM_PROTO
from paycore.v1 import payment_service_pb2 as svc


def refund_payment(merchant_id: str, request: svc.RefundPaymentRequest) -> RefundPayment:
    """Validate a RefundPaymentRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    fields.payment_id(v, request.payment_id)
    amount = fields.money(v, "amount", request.amount) if request.HasField("amount") else None
    fields.text(v, "reason", request.reason, fields.MAX_REASON)
    v.raise_if_any()
    return RefundPayment(merchant_id, request.payment_id, amount, request.reason)


def list_refunds(
    merchant_id: str, request: svc.ListRefundsRequest, token_key: bytes
) -> RefundQuery:
    """Validate a ListRefundsRequest (``token_key`` verifies its page token)."""
    v = ViolationCollector()
    if request.page_size < 0:
        v.add("page_size", "must not be negative")
    states = pages.listed_states(v, request.states, REFUND_STATE_FROM_PROTO)
    if request.payment_id:
        fields.payment_id(v, request.payment_id)
    v.raise_if_any()
    after = (
        pages.decode_page_token(request, merchant_id, token_key, ids.REFUND)
        if request.page_token
        else None
    )
    return RefundQuery(
        merchant_id=merchant_id,
        page_size=pages.page_size(request.page_size),
        states=frozenset(states),
        payment_id=request.payment_id,
        after=after,
    )


def _refund_id(v: ViolationCollector, value: str) -> None:
    if not value:
        v.add("refund_id", "required")
    elif not ids.is_valid(ids.REFUND, value):
        v.add("refund_id", "must be a refund id: re_ followed by 26 base32 characters")


def approve_refund(merchant_id: str, request: svc.ApproveRefundRequest) -> ReviewRefund:
    """Validate an ApproveRefundRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _refund_id(v, request.refund_id)
    v.raise_if_any()
    return ReviewRefund(merchant_id, request.refund_id)


def reject_refund(merchant_id: str, request: svc.RejectRefundRequest) -> ReviewRefund:
    """Validate a RejectRefundRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _refund_id(v, request.refund_id)
    fields.text(v, "reason", request.reason, fields.MAX_REASON)
    v.raise_if_any()
    return ReviewRefund(merchant_id, request.refund_id, request.reason)
