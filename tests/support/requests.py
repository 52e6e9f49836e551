"""Request builders for the PaymentService: cards, money, valid requests of every RPC.

- ``card`` (``card_data``, ``by_token``), ``usd``, ``money`` build the parts;
  ``distinctive_pan`` is a card number no other test uses; ``cents`` reads a Money
  back as minor units;
- ``new_request_id`` and ``new_merchant_id`` are fresh ids;
- ``build``, ``create_request``, ``request_for`` and ``changed`` build whole requests
  (a fresh request_id unless given; a field set to None is left unset);
- ``PAYMENT_RPCS`` has a valid request of every RPC that names a payment, and
  ``READY_FOR`` the state in which it succeeds.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message
from google.type import money_pb2

from core.domain.cards import luhn_valid
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc

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

M = TypeVar("M", bound=Message)


def new_request_id() -> str:
    """A fresh idempotency key."""
    return str(uuid.uuid4())


def new_merchant_id() -> str:
    """A merchant no other test uses: every query and key is scoped by merchant, so tests never
    collide."""
    return f"m_{uuid.uuid4().hex[:16]}"


def money(units: int, nanos: int = 0, currency: str = "USD") -> money_pb2.Money:
    """A google.type.Money."""
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def usd(units: int, cents: int = 0) -> money_pb2.Money:
    """Dollars and cents."""
    return money(units, cents * 10_000_000)


def cents(amount: money_pb2.Money) -> int:
    """A Money of a two-decimal currency in minor units (``usd(1, 5)`` -> 105)."""
    return int(amount.units) * 100 + int(amount.nanos) // 10_000_000


def card_data(number: str = VISA, **fields: Any) -> pb.CardData:
    """A valid card; fields override its expiry, CVC and holder."""
    values: dict[str, Any] = {
        "number": number,
        "exp_month": 12,
        "exp_year": EXP_YEAR,
        "cvc": "123",
        "holder_name": "Ada Lovelace",
    }
    values.update(fields)
    return pb.CardData(**values)


def card(number: str = VISA, **fields: Any) -> pb.PaymentMethodData:
    """A card payment method (``card_data``); fields override a valid expiry, CVC and holder."""
    return pb.PaymentMethodData(card=card_data(number, **fields))


def luhn_complete(prefix: str) -> str:
    """``prefix`` followed by its Luhn check digit."""
    total = 0
    for position, char in enumerate(reversed(prefix)):
        digit = int(char)
        if position % 2 == 0:  # doubled: these become odd positions once the check digit follows
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return prefix + str((10 - total % 10) % 10)


def distinctive_pan() -> str:
    """A Luhn-valid 16-digit Visa number no other test uses (the sandbox authorizes it)."""
    number = luhn_complete("4" + "".join(secrets.choice("0123456789") for _ in range(14)))
    assert luhn_valid(number)
    return number


def by_token(token_id: str) -> pb.PaymentMethodData:
    """A payment method naming a stored card."""
    return pb.PaymentMethodData(card_token=token_id)


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
