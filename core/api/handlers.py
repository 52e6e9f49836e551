"""The PaymentService RPCs: where a payment enters paycore (and the pipeline every RPC uses).

Each RPC runs through one pipeline (``_pipeline``): resolve the caller, parse the
request bytes, call the handler, and turn any error into a rich status in
exactly one place. Handlers translate protobuf <-> domain and call the
service; the service never sees a protobuf message.

Requests are registered without a deserializer so that a malformed message is
parsed here and answered with INVALID_ARGUMENT (grpc's own deserializer would
answer INTERNAL). Mutating RPCs return the stored reply bytes as they are, so
a replayed reply is byte-for-byte the first one.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.trace import Status, StatusCode

from core.api import convert
from core.api.identity import Caller, IdentityResolver
from core.api.requests import payments as payment_validation
from core.api.requests import refunds as refund_validation
from core.api.requests.fingerprint import request_fingerprint
from core.api.requests.pages import encode_page_token
from core.api.serialized import payment_encoder, payments_field
from core.api.status import abort_with, encode_error, internal_error, status_code_name
from core.auth import policy
from core.domain.errors import FieldViolation, PaycoreError, Reason, ValidationError
from core.domain.payment import Payment, Refund
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.payments import PaymentService
from core.telemetry import Telemetry
from core.telemetry import context as log_context
from core.telemetry.instruments import GRPC_STATUS, MERCHANT, REQUEST_ID, RPC_METHOD, RPC_SERVICE
from paycore.v1 import payment_service_pb2 as svc

log = logging.getLogger(__name__)

SERVICE_NAME = "paycore.v1.PaymentService"

M = TypeVar("M", bound=Message)


def _serialize(response: bytes | Message) -> bytes:
    if isinstance(response, bytes):
        return response
    return response.SerializeToString(deterministic=True)


_CREATE = payment_encoder(svc.CreatePaymentResponse)
_CONFIRM = payment_encoder(svc.ConfirmPaymentResponse)
_CAPTURE = payment_encoder(svc.CapturePaymentResponse)
_CANCEL = payment_encoder(svc.CancelPaymentResponse)
_UPDATE = payment_encoder(svc.UpdatePaymentResponse)


def _refund_encoder(response_type: Callable[..., Message]) -> Encoder[tuple[Refund, Payment]]:
    def success(result: tuple[Refund, Payment]) -> bytes:
        refund, payment = result
        return _serialize(
            response_type(
                refund=convert.refund_to_proto(refund), payment=convert.payment_to_proto(payment)
            )
        )

    return Encoder(success=success, failure=encode_error)


_REFUND = _refund_encoder(svc.RefundPaymentResponse)
_APPROVE_REFUND = _refund_encoder(svc.ApproveRefundResponse)
_REJECT_REFUND = _refund_encoder(svc.RejectRefundResponse)


def reveal_once(reply: Reply, response_type: type[Message], secret: str | None) -> Reply:
    """The reply with its ``secret`` field set, when this very call made the secret.

    Secrets (API keys, webhook signing secrets) are left out of stored replies,
    so a replay of the request_id never shows them again; the call that made
    one gets it added here, once. ``secret`` is None for replays.
    """
    if secret is None or not reply.ok:
        return reply
    response = response_type.FromString(reply.body)
    response.secret = secret  # type: ignore[attr-defined]
    return Reply(True, _serialize(response))


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
        return RequestIdentity(request.request_id, request_fingerprint(request, self._secret))

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
            next_page_token=self._next_page_token(request, refunds, more),
        )

    def _next_page_token(
        self, request: Message, page: Sequence[Payment] | Sequence[Refund], more: bool
    ) -> str:
        """The token of the page after ``page`` (empty on the last page)."""
        if not (more and page):
            return ""
        last = page[-1]
        return encode_page_token(request, last.created_at, last.id, self._secret)

    async def get_payment(self, caller: Caller, request: svc.GetPaymentRequest) -> Reply:
        payment_id = payment_validation.get_payment_id(request)
        payment = await self._service.get_payment(caller.merchant_id, payment_id)
        return Reply(True, payments_field(svc.GetPaymentResponse, "payment", [payment]))

    async def list_payments(self, caller: Caller, request: svc.ListPaymentsRequest) -> Reply:
        query = payment_validation.list_payments(caller.merchant_id, request, self._secret)
        payments, more = await self._service.list_payments(query)
        token = self._next_page_token(request, payments, more)
        # payments (field 1), then next_page_token (2): the order of a deterministic
        # serialization of the whole response.
        tail = svc.ListPaymentsResponse(next_page_token=token).SerializeToString(deterministic=True)
        return Reply(True, payments_field(svc.ListPaymentsResponse, "payments", payments) + tail)


Handler = Callable[[Caller, Any], Awaitable["Reply | Message"]]


# gRPC codes that mean the server failed (OpenTelemetry's rule for server spans).
_SERVER_FAULTS = frozenset(
    {"UNKNOWN", "DEADLINE_EXCEEDED", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS"}
)


def _parse(request_type: type[M], raw: bytes) -> M:
    try:
        return request_type.FromString(raw)
    except DecodeError:
        raise ValidationError(
            [FieldViolation("", f"not a valid {request_type.DESCRIPTOR.full_name}")]
        ) from None


StreamHandler = Callable[[Caller, Any], AsyncIterator[Message]]
"""A server-streaming RPC: yields the response messages (see ``service_handler``)."""


def _pipeline(
    method: str,
    request_type: type[Message],
    handler: Handler | StreamHandler,
    *,
    identity: IdentityResolver,
    telemetry: Telemetry,
    service: str,
    streaming: bool,
) -> Callable[[bytes, grpc.aio.ServicerContext[Any, Any]], Awaitable[bytes | None]]:
    """The one path of every RPC: the caller, the request, ``handler``, the status.

    A unary RPC answers the bytes of what ``handler`` returns (grpc is given no
    serializer); a streaming one writes each message ``handler`` yields as it
    comes. An error raised before or between messages ends either with its
    rich status through the one error mapping below.
    """
    span_name = full_method = f"{service}/{method}"
    span_attributes = {"rpc.system": "grpc", RPC_SERVICE: service, RPC_METHOD: method}

    async def call(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes | None:
        metadata = tuple(context.invocation_metadata() or ())
        started = time.perf_counter()
        code = "OK"
        method_token = log_context.rpc_method.set(method)
        merchant_token = request_token = None
        # Status and exceptions are recorded by hand below: grpc's abort raises,
        # and a client mistake must not mark the span as a server error.
        # Continues the caller's trace (W3C traceparent/tracestate in metadata).
        with telemetry.rpc_span(span_name, metadata, span_attributes) as span:
            try:
                try:
                    with telemetry.stage("auth"):
                        caller = await identity.authenticate(metadata, context.peer())
                        policy.authorize(caller.role, full_method, caller.merchant_id)
                    span.set_attribute(MERCHANT, caller.merchant_id)
                    merchant_token = log_context.merchant_id.set(caller.merchant_id)
                    request = _parse(request_type, raw)
                    request_id = getattr(request, "request_id", "")
                    if request_id:
                        span.set_attribute(REQUEST_ID, request_id)
                        request_token = log_context.request_id.set(request_id)
                    if streaming:
                        async for message in handler(caller, request):  # type: ignore[union-attr]
                            await context.write(message)
                        return None
                    # Awaited here, not through a wrapper: one coroutine less per RPC.
                    result = await handler(caller, request)  # type: ignore[misc]
                except PaycoreError as error:
                    status = encode_error(error)
                except Exception:
                    log.exception("bug in %s", method)
                    status = internal_error()
                else:
                    if not isinstance(result, Reply):
                        return _serialize(result)
                    if result.ok:
                        return result.body
                    status = result.body
                code = status_code_name(status)
                if code in _SERVER_FAULTS:
                    span.set_status(Status(StatusCode.ERROR, code))
                await abort_with(context, status)
                raise AssertionError("unreachable: abort raises")
            except asyncio.CancelledError:
                code = "CANCELLED"  # the caller went away; shielded work still commits
                raise
            finally:
                span.set_attribute(GRPC_STATUS, code)
                telemetry.rpc_finished(method, code, time.perf_counter() - started, service)
                for var, token in (
                    (log_context.request_id, request_token),
                    (log_context.merchant_id, merchant_token),
                ):
                    if token is not None:
                        var.reset(token)
                log_context.rpc_method.reset(method_token)

    return call


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
        "RefundPayment": (svc.RefundPaymentRequest, handlers.refund_payment),
        "ListRefunds": (svc.ListRefundsRequest, handlers.list_refunds),
        "ApproveRefund": (svc.ApproveRefundRequest, handlers.approve_refund),
        "RejectRefund": (svc.RejectRefundRequest, handlers.reject_refund),
    }
    return service_handler(
        svc.DESCRIPTOR.services_by_name["PaymentService"], table, identity, telemetry
    )


def service_handler(
    service: ServiceDescriptor,
    table: Mapping[str, tuple[type[Message], Handler]],
    identity: IdentityResolver,
    telemetry: Telemetry | None = None,
    streams: Mapping[str, tuple[type[Message], StreamHandler]] | None = None,
) -> grpc.GenericRpcHandler[Any, Any]:
    """A grpc.aio method table running every RPC of ``service`` through the pipeline.

    ``table`` maps each unary RPC name to its request type and handler, and
    ``streams`` each server-streaming one; an RPC of the proto without a
    handler (or the reverse) is refused at start-up.
    """
    streams = streams or {}
    declared = {m.name for m in service.methods}
    if declared != set(table) | set(streams) or set(table) & set(streams):
        raise RuntimeError(
            f"{service.name} RPCs without a handler: "
            f"{sorted(declared ^ (set(table) | set(streams)))}"
        )
    unguarded = [m for m in declared if policy.required_role(f"{service.full_name}/{m}") is None]
    if unguarded:
        # Deny by default is not enough: an RPC nobody decided about is a bug.
        raise RuntimeError(f"{service.name} RPCs without a policy entry: {sorted(unguarded)}")
    telemetry = telemetry or Telemetry.disabled()
    pipeline = functools.partial(
        _pipeline, identity=identity, telemetry=telemetry, service=service.full_name
    )
    methods = {
        # Unary answers leave the pipeline as bytes (no serializer call by grpc);
        # streamed messages are serialized by grpc as they are written.
        name: grpc.unary_unary_rpc_method_handler(
            pipeline(name, request_type, handler, streaming=False),
            request_deserializer=None,
            response_serializer=None,
        )
        for name, (request_type, handler) in table.items()
    } | {
        name: grpc.unary_stream_rpc_method_handler(
            pipeline(name, request_type, stream, streaming=True),
            request_deserializer=None,
            response_serializer=_serialize,
        )
        for name, (request_type, stream) in streams.items()
    }
    return grpc.method_handlers_generic_handler(service.full_name, methods)
