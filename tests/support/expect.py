"""Assertions on failed calls: the google.rpc.Status paycore errors carry.

``expect_error`` / ``expect_invalid`` await a call that must fail and check its
google.rpc.Status (code, exactly one ErrorInfo, BadRequest field violations);
``error_info``, ``violations``, ``retry_delay_s`` and ``details`` read one error's
details (``details_of`` those of a Status); ``same_payment`` checks that a refused
request changed nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from paycore.v1 import payment_pb2 as pb
from tests.support.requests import wire

DOMAIN = "paycore"
"""The ErrorInfo domain of every paycore error."""

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ABORTED = grpc.StatusCode.ABORTED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED

M = TypeVar("M", bound=Message)


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The google.rpc.Status a failed call carried (it must carry one)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # stubs predate grpc.aio
    assert status is not None, f"no rich status on {error.code()}: {error.details()}"
    return status


def details(error: grpc.aio.AioRpcError, kind: type[M]) -> list[M]:
    """The details of type ``kind`` the error's google.rpc.Status carried, in order."""
    return details_of(rich_status(error), kind)


def details_of(status: status_pb2.Status, kind: type[M]) -> list[M]:
    """The details of type ``kind`` in a google.rpc.Status, in order."""
    found = []
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):  # type: ignore[arg-type]  # upb descriptors
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The one ErrorInfo of a paycore error."""
    infos = details(error, error_details_pb2.ErrorInfo)
    assert len(infos) == 1, f"expected exactly one ErrorInfo, got {infos}"
    assert infos[0].domain == DOMAIN
    return infos[0]


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    """The fields named by the error's BadRequest."""
    requests = details(error, error_details_pb2.BadRequest)
    assert len(requests) == 1, f"expected one BadRequest, got {requests}"
    return [violation.field for violation in requests[0].field_violations]


def retry_delay_s(error: grpc.aio.AioRpcError) -> float | None:
    """The RetryInfo delay in seconds, or None without RetryInfo."""
    infos = details(error, error_details_pb2.RetryInfo)
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
