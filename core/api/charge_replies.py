"""Billing's charges as CreatePayment replies (core/service/billing.py ``ChargeReplies``).

A renewal's charge is stored under its request_id with exactly the reply
CreatePayment would give, so the merchant's tools see an ordinary payment; this
codec reads that reply back into the outcome billing records.
"""

from __future__ import annotations

from google.rpc import error_details_pb2, status_pb2

from core.api.replies import payment_encoder
from core.domain.payment import Payment
from core.service.billing import ChargeOutcome
from core.service.requests import Encoder, Reply
from paycore.v1 import payment_pb2
from paycore.v1 import payment_service_pb2 as svc

_State = payment_pb2.Payment.State
_UNSETTLED = {_State.STATE_PENDING, _State.STATE_REQUIRES_REVIEW, _State.STATE_AUTHORIZED}
_IN_PROGRESS = "REQUEST_IN_PROGRESS"


def _reason(status: status_pb2.Status) -> str:
    for detail in status.details:
        if detail.TypeName() == error_details_pb2.ErrorInfo.DESCRIPTOR.full_name:
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return "error"


class CreatePaymentReplies:
    """``ChargeReplies`` with CreatePaymentResponse bytes."""

    def __init__(self) -> None:
        self._encoder = payment_encoder(svc.CreatePaymentResponse)

    @property
    def encoder(self) -> Encoder[Payment]:
        """CreatePayment's own encoder."""
        return self._encoder

    def outcome(self, reply: Reply) -> ChargeOutcome:
        """Paid when captured; a decline or failure is a failed charge; pending waits."""
        if not reply.ok:
            reason = _reason(status_pb2.Status.FromString(reply.body))
            # Another runner's charge still executing: its outcome is recorded later.
            settled = reason != _IN_PROGRESS
            return ChargeOutcome("", paid=False, settled=settled, failure_code=reason.lower())
        payment = svc.CreatePaymentResponse.FromString(reply.body).payment
        if payment.state in _UNSETTLED:
            return ChargeOutcome(payment.id, paid=False, settled=False)
        paid = payment.state == _State.STATE_CAPTURED
        code = "" if paid else payment.failure.code or "payment_failed"
        return ChargeOutcome(payment.id, paid=paid, settled=True, failure_code=code)
