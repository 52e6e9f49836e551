"""What every end-to-end test needs: request builders, a merchant's view of the API, rich errors.

One copy, used by every test module:

- ``card``, ``usd``, ``money``, ``build``, ``create_request``, ``request_for`` and
  ``changed`` build requests; ``PAYMENT_RPCS`` has a valid request of every RPC that
  names a payment, and ``READY_FOR`` the state in which it succeeds;
- ``Api`` is one merchant's client: a call per RPC, and payments made ready in any state;
- ``expect_error`` / ``expect_invalid`` await a call that must fail and check its
  google.rpc.Status (code, exactly one ErrorInfo, BadRequest field violations);
  ``same_payment`` checks that a refused request changed nothing.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from google.type import money_pb2
from grpc_status import rpc_status

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc

DOMAIN = "paycore"

# Sandbox test cards (router/channels/sandbox.py).
VISA = "4242424242424242"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
CARD_DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
EXPIRED_CARD = "4000000000000069"
INCORRECT_CVC = "4000000000000127"
PROCESSING_ERROR = "4000000000000119"
REFUND_FAILS = "4000000000005126"
CAPTURE_REFUSED = "4000000000000259"
OTHER_VALID = "6011111111111117"  # discover, no special behaviour

EXP_YEAR = datetime.now(UTC).year + 3
RISK_LIMIT_USD = 1_000_000  # RiskSettings.max_amount_minor = 1,000,000.00

S = pb.Payment
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ABORTED = grpc.StatusCode.ABORTED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED

M = TypeVar("M", bound=Message)


# --- requests -------------------------------------------------------------------------


def new_request_id() -> str:
    """A fresh idempotency key."""
    return str(uuid.uuid4())


def money(units: int, nanos: int = 0, currency: str = "USD") -> money_pb2.Money:
    """A google.type.Money."""
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def usd(units: int, cents: int = 0) -> money_pb2.Money:
    """Dollars and cents."""
    return money(units, cents * 10_000_000)


def card(number: str = VISA, **fields: Any) -> pb.PaymentMethodData:
    """A card payment method; fields override a valid expiry, CVC and holder."""
    values: dict[str, Any] = {
        "number": number,
        "exp_month": 12,
        "exp_year": EXP_YEAR,
        "cvc": "123",
        "holder_name": "Ada Lovelace",
    }
    values.update(fields)
    return pb.PaymentMethodData(card=pb.CardData(**values))


def build(message_type: type[M], **fields: Any) -> M:
    """A request with a fresh request_id (unless given); fields set to None are left unset."""
    values = {"request_id": new_request_id(), **fields}
    if "request_id" not in message_type.DESCRIPTOR.fields_by_name:
        del values["request_id"]
    return message_type(**{name: value for name, value in values.items() if value is not None})


def create_request(**fields: Any) -> svc.CreatePaymentRequest:
    """A valid CreatePaymentRequest (10.00 USD, Visa); fields override, None unsets."""
    values: dict[str, Any] = {"amount": usd(10), "payment_method": card()}
    values.update(fields)
    return build(svc.CreatePaymentRequest, **values)


def manual_capture(**fields: Any) -> dict[str, Any]:
    """Create fields for a payment that stops at AUTHORIZED."""
    return {"capture_method": pb.CAPTURE_METHOD_MANUAL, **fields}


def manual_confirmation(**fields: Any) -> dict[str, Any]:
    """Create fields for a payment that waits for ConfirmPayment (no card by default)."""
    return {"confirmation_method": pb.CONFIRMATION_METHOD_MANUAL, "payment_method": None, **fields}


def wire(message: Message) -> bytes:
    """The deterministic encoding of a message, for byte-for-byte comparisons."""
    return message.SerializeToString(deterministic=True)


def changed(message: M, **fields: Any) -> M:
    """A copy of ``message`` with ``fields`` replaced (None clears a field)."""
    copy = type(message)()
    copy.CopyFrom(message)
    for name, value in fields.items():
        copy.ClearField(name)
        if value is not None:
            copy.MergeFrom(type(message)(**{name: value}))
    return copy


def request_for(rpc: str, payment_id: str, **fields: Any) -> Message:
    """A request of RPC ``rpc`` on one payment, with a fresh request_id if it takes one."""
    message_type: type[Message] = getattr(svc, f"{rpc}Request")
    return build(message_type, payment_id=payment_id, **fields)


# Every RPC that names one payment, as a builder of a valid request taking the payment id.
PAYMENT_RPCS: dict[str, Callable[[str], Message]] = {
    "GetPayment": lambda payment_id: request_for("GetPayment", payment_id),
    "UpdatePayment": lambda payment_id: request_for("UpdatePayment", payment_id, description="x"),
    "ConfirmPayment": lambda payment_id: request_for(
        "ConfirmPayment", payment_id, payment_method=card()
    ),
    "CapturePayment": lambda payment_id: request_for("CapturePayment", payment_id),
    "CancelPayment": lambda payment_id: request_for("CancelPayment", payment_id),
    "RefundPayment": lambda payment_id: request_for("RefundPayment", payment_id),
}

# The state in which each mutating RPC's request from PAYMENT_RPCS succeeds.
READY_FOR = {
    "UpdatePayment": S.STATE_REQUIRES_CONFIRMATION,
    "ConfirmPayment": S.STATE_REQUIRES_CONFIRMATION,
    "CapturePayment": S.STATE_AUTHORIZED,
    "CancelPayment": S.STATE_AUTHORIZED,
    "RefundPayment": S.STATE_CAPTURED,
}


# --- one merchant's API -----------------------------------------------------------------


@dataclass(frozen=True)
class Api:
    """The PaymentService as one merchant sees it."""

    stub: payment_service_pb2_grpc.PaymentServiceStub
    merchant_id: str
    metadata: tuple[tuple[str, str], ...]
    """Call metadata with an API key of this merchant (tests/support/auth.py)."""

    async def call(self, rpc: str, request: Message) -> Any:
        """Any RPC by name, as this merchant; returns the whole response."""
        method = getattr(self.stub, rpc)
        return await method(request, metadata=self.metadata)

    async def create(self, **fields: Any) -> pb.Payment:
        """CreatePayment with ``create_request(**fields)``."""
        response = await self.call("CreatePayment", create_request(**fields))
        return response.payment

    async def get(self, payment_id: str) -> pb.Payment:
        """GetPayment."""
        response = await self.call("GetPayment", svc.GetPaymentRequest(payment_id=payment_id))
        return response.payment

    async def list(self, **fields: Any) -> svc.ListPaymentsResponse:
        """One ListPayments page."""
        return await self.call("ListPayments", build(svc.ListPaymentsRequest, **fields))

    async def list_all(self, **filters: Any) -> builtins.list[pb.Payment]:
        """Every payment matching the filters, following page tokens."""
        payments: builtins.list[pb.Payment] = []
        token = ""
        while True:
            page = await self.list(page_size=100, page_token=token, **filters)
            payments.extend(page.payments)
            token = page.next_page_token
            if not token:
                return payments

    async def update(self, payment_id: str, **fields: Any) -> pb.Payment:
        """UpdatePayment."""
        request = build(svc.UpdatePaymentRequest, payment_id=payment_id, **fields)
        return (await self.call("UpdatePayment", request)).payment

    async def confirm(self, payment_id: str, number: str = VISA, **fields: Any) -> pb.Payment:
        """ConfirmPayment with a card."""
        request = build(
            svc.ConfirmPaymentRequest, payment_id=payment_id, payment_method=card(number), **fields
        )
        return (await self.call("ConfirmPayment", request)).payment

    async def capture(self, payment_id: str, amount: Any = None, **fields: Any) -> pb.Payment:
        """CapturePayment (all of it when ``amount`` is None)."""
        request = build(svc.CapturePaymentRequest, payment_id=payment_id, amount=amount, **fields)
        return (await self.call("CapturePayment", request)).payment

    async def cancel(self, payment_id: str, **fields: Any) -> pb.Payment:
        """CancelPayment."""
        request = build(svc.CancelPaymentRequest, payment_id=payment_id, **fields)
        return (await self.call("CancelPayment", request)).payment

    async def refund(
        self, payment_id: str, amount: Any = None, **fields: Any
    ) -> svc.RefundPaymentResponse:
        """RefundPayment (everything left when ``amount`` is None); the whole response."""
        request = build(svc.RefundPaymentRequest, payment_id=payment_id, amount=amount, **fields)
        return await self.call("RefundPayment", request)

    # Payments made ready in a given state.

    async def requires_confirmation(self, **fields: Any) -> pb.Payment:
        """A payment waiting for ConfirmPayment."""
        return await self.create(**manual_confirmation(**fields))

    async def authorized(self, **fields: Any) -> pb.Payment:
        """A payment holding funds, waiting for capture."""
        return await self.create(**manual_capture(**fields))

    async def captured(self, **fields: Any) -> pb.Payment:
        """A fully captured payment."""
        return await self.create(**fields)

    async def canceled(self) -> pb.Payment:
        """An authorized payment, voided."""
        return await self.cancel((await self.authorized()).id)

    async def partially_refunded(self) -> pb.Payment:
        """A captured payment of 10.00 with 1.00 refunded."""
        return (await self.refund((await self.captured()).id, usd(1))).payment

    async def refunded(self) -> pb.Payment:
        """A captured payment, fully refunded."""
        return (await self.refund((await self.captured()).id)).payment

    async def declined(self) -> pb.Payment:
        """A payment the issuer declined."""
        return await self.create(payment_method=card(CARD_DECLINED))

    async def failed(self) -> pb.Payment:
        """A payment the channel could not process."""
        return await self.create(payment_method=card(PROCESSING_ERROR))

    async def in_state(self, state: int) -> pb.Payment:
        """A payment in ``state`` (a Payment.State value)."""
        makers: dict[int, Callable[[], Awaitable[pb.Payment]]] = {
            S.STATE_REQUIRES_CONFIRMATION: self.requires_confirmation,
            S.STATE_AUTHORIZED: self.authorized,
            S.STATE_CAPTURED: self.captured,
            S.STATE_CANCELED: self.canceled,
            S.STATE_PARTIALLY_REFUNDED: self.partially_refunded,
            S.STATE_REFUNDED: self.refunded,
            S.STATE_DECLINED: self.declined,
            S.STATE_FAILED: self.failed,
        }
        payment = await makers[state]()
        assert payment.state == state
        return payment


# --- errors ------------------------------------------------------------------------------


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status a failed call carried (it must carry one)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # stubs predate grpc.aio
    assert status is not None, f"no rich status on {error.code()}: {error.details()}"
    return status


def _details(error: grpc.aio.AioRpcError, kind: type[M]) -> list[M]:
    found = []
    for detail in rich_status(error).details:
        if detail.Is(kind.DESCRIPTOR):  # type: ignore[arg-type]  # upb descriptors
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The one ErrorInfo of a paycore error."""
    infos = _details(error, error_details_pb2.ErrorInfo)
    assert len(infos) == 1, f"expected exactly one ErrorInfo, got {infos}"
    assert infos[0].domain == DOMAIN
    return infos[0]


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by the error's BadRequest."""
    requests = _details(error, error_details_pb2.BadRequest)
    assert len(requests) == 1, f"expected one BadRequest, got {requests}"
    return [violation.field for violation in requests[0].field_violations]


def retry_delay_s(error: grpc.aio.AioRpcError) -> float | None:
    """The RetryInfo delay in seconds, or None without RetryInfo."""
    infos = _details(error, error_details_pb2.RetryInfo)
    if not infos:
        return None
    return infos[0].retry_delay.ToTimedelta().total_seconds()


async def expect_error(
    call: Awaitable[Any], code: grpc.StatusCode, reason: str
) -> grpc.aio.AioRpcError:
    """Await a call that must fail with ``code`` and ErrorInfo ``reason``; returns the error."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    assert (error.code(), error_info(error).reason) == (code, reason), error.details()
    status = rich_status(error)
    assert status.code == code.value[0]
    return error


def _names(field: str, violation: str) -> bool:
    return violation == field or violation.startswith(f"{field}[")


def assert_invalid(
    error: grpc.aio.AioRpcError, fields: Iterable[str], reason: str = "VALIDATION_FAILED"
) -> None:
    """INVALID_ARGUMENT with ``reason`` and a field violation for each of ``fields``.

    A field matches a violation of the same path, or of one of its map entries
    (``metadata`` matches ``metadata['key']``).
    """
    assert error.code() == INVALID_ARGUMENT, (error.code(), error.details())
    assert error_info(error).reason == reason
    named = violations(error)
    for field in fields:
        assert any(_names(field, violation) for violation in named), (field, named)


async def expect_invalid(
    call: Awaitable[Any], *fields: str, reason: str = "VALIDATION_FAILED"
) -> grpc.aio.AioRpcError:
    """Await a call that must fail validation naming ``fields``; returns the error."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert_invalid(caught.value, fields, reason)
    return caught.value


def same_payment(before: pb.Payment, after: pb.Payment, *, but_update_time: bool = False) -> None:
    """Assert nothing about a payment changed (a refused request wrote nothing).

    ``but_update_time`` allows only ``update_time`` to differ and attempts to
    be added (operations were tried at a channel, which refused them: each
    refused call stays in the payment's attempt history).
    """
    if but_update_time:
        after = type(after).FromString(wire(after))
        after.update_time.CopyFrom(before.update_time)
        assert len(after.attempts) > len(before.attempts)
        del after.attempts[len(before.attempts) :]
    assert wire(after) == wire(before), f"payment changed:\n{before}\n->\n{after}"
