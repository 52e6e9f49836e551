"""The PaymentService RPCs: where a payment enters paycore.

Each RPC runs through the pipeline every service shares (``core.api.pipeline``):
caller, policy, parsing, one error mapping. Validation is in
``core.api.requests.payments`` and ``core.api.requests.refunds``. Mutating RPCs
return the stored reply bytes as they are, so a replayed reply is
byte-for-byte the first one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.replies import payment_encoder
from core.api.requests import payments as payment_validation
from core.api.requests import refunds as refund_validation
from core.api.requests import verification as verification_validation
from core.api.requests.fingerprint import request_identity
from core.api.requests.pages import encode_page_token
from core.api.status import encode_error
from core.domain.errors import PaycoreError, Reason
from core.domain.payment import Payment, Refund
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.payments.service import PaymentService
from core.telemetry import Telemetry
from core.wire import convert
from core.wire.serialized import payments_field
from paycore.v1 import payment_service_pb2 as svc

SERVICE_NAME = "paycore.v1.PaymentService"

_CREATE = payment_encoder(svc.CreatePaymentResponse)
_CONFIRM = payment_encoder(svc.ConfirmPaymentResponse)
_CAPTURE = payment_encoder(svc.CapturePaymentResponse)
_CANCEL = payment_encoder(svc.CancelPaymentResponse)
_UPDATE = payment_encoder(svc.UpdatePaymentResponse)
_VERIFY = payment_encoder(svc.VerifyPaymentCodeResponse)


def _refund_encoder(response_type: Callable[..., Message]) -> Encoder[tuple[Refund, Payment]]:
    def success(result: tuple[Refund, Payment]) -> bytes:
        refund, payment = result
        response = response_type(
            refund=convert.refund_to_proto(refund), payment=convert.payment_to_proto(payment)
        )
        return response.SerializeToString(deterministic=True)

    return Encoder(success=success, failure=encode_error)


_REFUND = _refund_encoder(svc.RefundPaymentResponse)
_APPROVE_REFUND = _refund_encoder(svc.ApproveRefundResponse)
_REJECT_REFUND = _refund_encoder(svc.RejectRefundResponse)


def _check_card_data(
    caller: Caller, request: svc.CreatePaymentRequest | svc.ConfirmPaymentRequest
) -> None:
    """Full card numbers only from merchants allowed to send them (else: tokenize first)."""
    has_card = request.HasField("payment_method") and (
        request.payment_method.WhichOneof("kind") == "card"
    )
    if has_card and not caller.raw_card_data_allowed:
        raise PaycoreError(Reason.RAW_CARD_DATA_NOT_ALLOWED)


class PaymentHandlers:
    """One method per RPC: validate, call the service, convert the answer."""

    def __init__(
        self,
        service: PaymentService,
        secret: bytes,
        today: Callable[[], date] | None = None,
    ) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints, signs page tokens
        self._today = today or (lambda: datetime.now(UTC).date())

    def _identity(self, request: Any) -> RequestIdentity:
        return request_identity(request, self._secret)

    async def create_payment(self, caller: Caller, request: svc.CreatePaymentRequest) -> Reply:
        _check_card_data(caller, request)
        command = payment_validation.create_payment(caller.merchant_id, request, self._today())
        return await self._service.create_payment(command, self._identity(request), _CREATE)

    async def confirm_payment(self, caller: Caller, request: svc.ConfirmPaymentRequest) -> Reply:
        _check_card_data(caller, request)
        command = payment_validation.confirm_payment(caller.merchant_id, request, self._today())
        return await self._service.confirm_payment(command, self._identity(request), _CONFIRM)

    async def capture_payment(self, caller: Caller, request: svc.CapturePaymentRequest) -> Reply:
        command = payment_validation.capture_payment(caller.merchant_id, request)
        return await self._service.capture_payment(command, self._identity(request), _CAPTURE)

    async def cancel_payment(self, caller: Caller, request: svc.CancelPaymentRequest) -> Reply:
        command = payment_validation.cancel_payment(caller.merchant_id, request)
        return await self._service.cancel_payment(command, self._identity(request), _CANCEL)

    async def verify_payment_code(
        self, caller: Caller, request: svc.VerifyPaymentCodeRequest
    ) -> Reply:
        command = verification_validation.verify_payment_code(caller.merchant_id, request)
        return await self._service.verify_payment_code(command, self._identity(request), _VERIFY)

    async def refund_payment(self, caller: Caller, request: svc.RefundPaymentRequest) -> Reply:
        command = refund_validation.refund_payment(caller.merchant_id, request)
        return await self._service.refund_payment(command, self._identity(request), _REFUND)

    async def update_payment(self, caller: Caller, request: svc.UpdatePaymentRequest) -> Reply:
        command = payment_validation.update_payment(caller.merchant_id, request)
        return await self._service.update_payment(command, self._identity(request), _UPDATE)

    async def approve_refund(self, caller: Caller, request: svc.ApproveRefundRequest) -> Reply:
        command = refund_validation.approve_refund(caller.merchant_id, request)
        return await self._service.approve_refund(
            command, caller.actor, self._identity(request), _APPROVE_REFUND
        )

    async def reject_refund(self, caller: Caller, request: svc.RejectRefundRequest) -> Reply:
        command = refund_validation.reject_refund(caller.merchant_id, request)
        return await self._service.reject_refund(
            command, caller.actor, self._identity(request), _REJECT_REFUND
        )

    async def list_refunds(
        self, caller: Caller, request: svc.ListRefundsRequest
    ) -> svc.ListRefundsResponse:
        query = refund_validation.list_refunds(caller.merchant_id, request, self._secret)
        refunds, more = await self._service.list_refunds(query)
        return svc.ListRefundsResponse(
            refunds=[convert.refund_to_proto(r) for r in refunds],
            next_page_token=self._next_page_token(caller, request, refunds, more),
        )

    def _next_page_token(
        self,
        caller: Caller,
        request: Message,
        page: Sequence[Payment] | Sequence[Refund],
        more: bool,
    ) -> str:
        """The token of the page after ``page`` (empty on the last page), for this caller."""
        if not (more and page):
            return ""
        last = page[-1]
        return encode_page_token(
            request, caller.merchant_id, last.created_at, last.id, self._secret
        )

    async def get_payment(self, caller: Caller, request: svc.GetPaymentRequest) -> Reply:
        payment_id = payment_validation.get_payment_id(request)
        payment = await self._service.get_payment(caller.merchant_id, payment_id)
        return Reply(True, payments_field(svc.GetPaymentResponse, "payment", [payment]))

    async def list_payments(self, caller: Caller, request: svc.ListPaymentsRequest) -> Reply:
        query = payment_validation.list_payments(caller.merchant_id, request, self._secret)
        payments, more = await self._service.list_payments(query)
        token = self._next_page_token(caller, request, payments, more)
        # payments (field 1), then next_page_token (2): the order of a deterministic
        # serialization of the whole response.
        tail = svc.ListPaymentsResponse(next_page_token=token).SerializeToString(deterministic=True)
        return Reply(True, payments_field(svc.ListPaymentsResponse, "payments", payments) + tail)


def generic_handler(
    handlers: PaymentHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The PaymentService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "CreatePayment": (svc.CreatePaymentRequest, handlers.create_payment),
        "GetPayment": (svc.GetPaymentRequest, handlers.get_payment),
        "ListPayments": (svc.ListPaymentsRequest, handlers.list_payments),
        "UpdatePayment": (svc.UpdatePaymentRequest, handlers.update_payment),
        "ConfirmPayment": (svc.ConfirmPaymentRequest, handlers.confirm_payment),
        "CapturePayment": (svc.CapturePaymentRequest, handlers.capture_payment),
        "CancelPayment": (svc.CancelPaymentRequest, handlers.cancel_payment),
        "VerifyPaymentCode": (svc.VerifyPaymentCodeRequest, handlers.verify_payment_code),
        "RefundPayment": (svc.RefundPaymentRequest, handlers.refund_payment),
        "ListRefunds": (svc.ListRefundsRequest, handlers.list_refunds),
        "ApproveRefund": (svc.ApproveRefundRequest, handlers.approve_refund),
        "RejectRefund": (svc.RejectRefundRequest, handlers.reject_refund),
    }
    return service_handler(
        svc.DESCRIPTOR.services_by_name["PaymentService"], table, identity, telemetry
    )
