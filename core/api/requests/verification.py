"""Request checks of PaymentService.VerifyPaymentCode (the code is never echoed back)."""

from __future__ import annotations

from core.api.requests import fields
from core.domain.commands import VerifyPaymentCode
from core.domain.errors import ViolationCollector
from core.domain.verification import CODE_DIGITS, well_formed_code
from paycore.v1 import payment_service_pb2 as svc


def verify_payment_code(
    merchant_id: str, request: svc.VerifyPaymentCodeRequest
) -> VerifyPaymentCode:
    """Validate a VerifyPaymentCodeRequest: request_id, payment_id, a six-digit code."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    fields.payment_id(v, request.payment_id)
    if not well_formed_code(request.code):
        v.add("code", f"must be {CODE_DIGITS} ASCII digits")
    v.raise_if_any()
    return VerifyPaymentCode(merchant_id, request.payment_id, request.code)
