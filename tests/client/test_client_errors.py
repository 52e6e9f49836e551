"""The typed errors the clients raise, built from paycore's rich status."""

from __future__ import annotations

import grpc
import pytest

from paycore.client import (
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    PaycoreError,
    UnknownError,
    from_rpc_error,
    money,
)

from .either_client import EitherClient
from .scripted_paycore import ScriptedPaymentService, paycore_status


async def test_invalid_argument_lists_every_field_violation(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script(
        "CreatePayment",
        paycore_status(
            grpc.StatusCode.INVALID_ARGUMENT,
            "VALIDATION_FAILED",
            "The request has 2 invalid field(s).",
            metadata={"violation_count": "2"},
            violations=(
                ("amount.currency_code", "must be an ISO 4217 code"),
                ("payment_method.card.number", "fails the Luhn check"),
            ),
        ),
    )

    with pytest.raises(InvalidArgumentError) as raised:
        await client.create_payment(amount=money(100, "USD"))

    error = raised.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "VALIDATION_FAILED"
    assert error.domain == "paycore"
    assert error.metadata == {"violation_count": "2"}
    assert error.message == "The request has 2 invalid field(s)."
    assert error.field_violations == (
        FieldViolation("amount.currency_code", "must be an ISO 4217 code"),
        FieldViolation("payment_method.card.number", "fails the Luhn check"),
    )
    assert error.retry_after is None
    assert str(error) == "INVALID_ARGUMENT VALIDATION_FAILED: The request has 2 invalid field(s)."


async def test_details_the_server_did_not_send_are_empty(
    client: EitherClient, paycore: ScriptedPaymentService
) -> None:
    paycore.script(
        "GetPayment", paycore_status(grpc.StatusCode.NOT_FOUND, "PAYMENT_NOT_FOUND", "gone")
    )

    with pytest.raises(NotFoundError) as raised:
        await client.get_payment("pay_1")

    assert raised.value.reason == "PAYMENT_NOT_FOUND"
    assert raised.value.field_violations == ()
    assert raised.value.retry_after is None


def call_error(
    code: grpc.StatusCode, details: str, *trailers: tuple[str, str | bytes]
) -> grpc.RpcError:
    """A failed call as grpc.aio raises it, without a server."""
    trailing = grpc.aio.Metadata(*trailers)
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details, None)


def test_a_status_code_without_its_own_class_gives_the_fallback() -> None:
    error = from_rpc_error(call_error(grpc.StatusCode.UNIMPLEMENTED, "no such method"))

    assert type(error) is UnknownError
    assert error.code == grpc.StatusCode.UNIMPLEMENTED
    assert (error.reason, error.message, error.metadata) == ("", "no such method", {})


def test_a_bare_rpc_error_is_unknown() -> None:
    error = from_rpc_error(grpc.RpcError())

    assert isinstance(error, UnknownError)
    assert error.code == grpc.StatusCode.UNKNOWN


def test_an_unreadable_status_trailer_is_ignored() -> None:
    garbage = ("grpc-status-details-bin", b"\xff\xff\xff")

    error = from_rpc_error(call_error(grpc.StatusCode.NOT_FOUND, "gone", garbage))

    assert isinstance(error, NotFoundError)
    assert (error.reason, error.message) == ("", "gone")


def test_two_error_classes_cannot_claim_one_status_code() -> None:
    with pytest.raises(TypeError, match="NOT_FOUND already maps to NotFoundError"):

        class AnotherNotFoundError(PaycoreError, status=grpc.StatusCode.NOT_FOUND):
            pass
