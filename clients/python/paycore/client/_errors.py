"""Every failure a paycore call can raise, and the one function that builds them.

paycore answers a failed call with a google.rpc.Status in the
``grpc-status-details-bin`` trailer: one google.rpc.ErrorInfo (domain
"paycore", a stable ``reason`` such as "PAYMENT_NOT_CAPTURABLE", and a metadata
map), google.rpc.BadRequest field violations for INVALID_ARGUMENT, and
google.rpc.RetryInfo where retrying helps. ``from_rpc_error`` turns any
``grpc.RpcError`` (blocking or asyncio) into one of these exceptions, whether
or not that trailer is there:

    PaycoreError                  code, reason, domain, metadata, message,
    │                             field_violations, retry_after
    ├── InvalidArgumentError      INVALID_ARGUMENT: fix the request (see field_violations)
    ├── FailedPreconditionError   FAILED_PRECONDITION: the payment's state forbids it
    ├── NotFoundError             NOT_FOUND: no such payment for this merchant
    ├── AbortedError              ABORTED: a concurrent request; retried by the client
    ├── UnauthenticatedError      UNAUTHENTICATED: the call names no merchant
    ├── PermissionDeniedError     PERMISSION_DENIED
    ├── ResourceExhaustedError    RESOURCE_EXHAUSTED: rate limited
    ├── DeadlineExceededError     DEADLINE_EXCEEDED: outcome unknown; retried by the client
    ├── UnavailableError          UNAVAILABLE: retried by the client
    ├── InternalError             INTERNAL: a bug in paycore
    └── UnknownError              any other status code

Switch on ``reason`` (the values of paycore.v1.ErrorReason without the
``ERROR_REASON_`` prefix), not on ``message``, which is for humans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc.error_details_pb2 import BadRequest, ErrorInfo, RetryInfo
from google.rpc.status_pb2 import Status

_STATUS_DETAILS_KEY = "grpc-status-details-bin"

_DetailT = TypeVar("_DetailT", bound=Message)


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field of a request (google.rpc.BadRequest.FieldViolation).

    ``field`` is a path in the request message, e.g. ``amount.currency_code``
    or ``payment_method.card.number``.
    """

    field: str
    description: str


class PaycoreError(Exception):
    """A paycore call failed. Catch a subclass to handle one status code.

    Attributes:
        code: The gRPC status code.
        reason: The ErrorInfo reason, e.g. "PAYMENT_NOT_CAPTURABLE"; "" when the
            error did not come from paycore (a proxy, a dropped connection).
        domain: The ErrorInfo domain, "paycore" for paycore's own errors.
        metadata: The ErrorInfo metadata, e.g. {"payment_id": ..., "state": ...}.
        message: The human-readable status message.
        field_violations: Every invalid field, for INVALID_ARGUMENT.
        retry_after: The server's RetryInfo delay in seconds, if it sent one.
    """

    _by_code: ClassVar[dict[grpc.StatusCode, type[PaycoreError]]] = {}

    def __init_subclass__(cls, *, status: grpc.StatusCode | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is None:
            return
        # Two classes for one code would make from_rpc_error's choice depend on
        # import order; refuse it when the class is defined.
        if status in PaycoreError._by_code:
            taken = PaycoreError._by_code[status].__name__
            raise TypeError(f"{status.name} already maps to {taken}")
        PaycoreError._by_code[status] = cls

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: dict[str, str] | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata = dict(metadata or {})
        self.field_violations = field_violations
        self.retry_after = retry_after
        label = f"{code.name} {reason}" if reason else code.name
        super().__init__(f"{label}: {message}")


class InvalidArgumentError(PaycoreError, status=grpc.StatusCode.INVALID_ARGUMENT):
    """The request is invalid; ``field_violations`` names every bad field.

    Also raised for a reused request_id (reason IDEMPOTENCY_KEY_REUSED), a bad
    page token and a currency mismatch. Nothing was changed.
    """


class FailedPreconditionError(PaycoreError, status=grpc.StatusCode.FAILED_PRECONDITION):
    """The payment's state does not allow the operation (e.g. PAYMENT_NOT_CAPTURABLE)."""


class NotFoundError(PaycoreError, status=grpc.StatusCode.NOT_FOUND):
    """No such payment for the caller's merchant."""


class AbortedError(PaycoreError, status=grpc.StatusCode.ABORTED):
    """A concurrent request got in the way; raised once the client's retries ran out."""


class UnauthenticatedError(PaycoreError, status=grpc.StatusCode.UNAUTHENTICATED):
    """The call does not say which merchant it acts for."""


class PermissionDeniedError(PaycoreError, status=grpc.StatusCode.PERMISSION_DENIED):
    """The caller may not do this."""


class ResourceExhaustedError(PaycoreError, status=grpc.StatusCode.RESOURCE_EXHAUSTED):
    """The caller sent too much, too fast."""


class DeadlineExceededError(PaycoreError, status=grpc.StatusCode.DEADLINE_EXCEEDED):
    """No answer in time. For a write, the outcome is unknown.

    Repeating the call with the same ``request_id`` is safe and returns the
    first outcome; that is why callers who must resume after this error pass
    their own ``request_id``.
    """


class UnavailableError(PaycoreError, status=grpc.StatusCode.UNAVAILABLE):
    """paycore, or something it depends on, could not be reached."""


class InternalError(PaycoreError, status=grpc.StatusCode.INTERNAL):
    """A bug in paycore; never the caller's mistake."""


class UnknownError(PaycoreError):
    """A status code paycore does not send on purpose (UNKNOWN, CANCELLED, UNIMPLEMENTED, ...)."""


def from_rpc_error(err: grpc.RpcError) -> PaycoreError:
    """The typed error for a failed call, from a blocking or an asyncio channel.

    Never raises: a missing or unreadable status trailer gives an error with
    an empty ``reason`` and the plain status code and details.
    """
    # A bare grpc.RpcError is not a grpc.Call; the errors grpc raises for
    # unary calls (and grpc.aio.AioRpcError) are, and carry the trailers.
    code_of = getattr(err, "code", None)
    code = code_of() if callable(code_of) else grpc.StatusCode.UNKNOWN
    details_of = getattr(err, "details", None)
    message = (details_of() if callable(details_of) else None) or ""
    trailers_of = getattr(err, "trailing_metadata", None)
    trailers = (trailers_of() if callable(trailers_of) else None) or ()

    error_class = PaycoreError._by_code.get(code, UnknownError)
    status = _rich_status(trailers)
    if status is None:
        return error_class(code, message)
    info = _detail(status, ErrorInfo)
    bad_request = _detail(status, BadRequest)
    retry_info = _detail(status, RetryInfo)
    return error_class(
        code,
        status.message or message,
        reason=info.reason if info else "",
        domain=info.domain if info else "",
        metadata=dict(info.metadata) if info else {},
        field_violations=tuple(
            FieldViolation(v.field, v.description)
            for v in (bad_request.field_violations if bad_request else ())
        ),
        retry_after=(retry_info.retry_delay.ToTimedelta().total_seconds() if retry_info else None),
    )


def _rich_status(trailers: Iterable[tuple[str, str | bytes]]) -> Status | None:
    for key, value in trailers:
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return Status.FromString(value)
            except DecodeError:
                return None
    return None


def _detail(status: Status, kind: type[_DetailT]) -> _DetailT | None:
    """The first detail of one type; paycore sends at most one of each."""
    for any_detail in status.details:
        detail = kind()
        if any_detail.Unpack(detail):
            return detail
    return None
