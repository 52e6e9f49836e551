"""The one place where paycore errors become gRPC statuses (AIP-193).

Every error leaves as a google.rpc.Status in the ``grpc-status-details-bin``
trailer with exactly one ErrorInfo (domain "paycore", the catalog reason, its
metadata), plus BadRequest field violations for validation errors and
RetryInfo for retryable ones. The encoded bytes are also what the idempotency
record stores, so a replayed error is the same bytes as the first.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from core.domain.errors import PaycoreError, RateLimitedError, Reason, ValidationError

DOMAIN = "paycore"
_DETAILS_KEY = "grpc-status-details-bin"
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def to_status(error: PaycoreError) -> status_pb2.Status:
    """The rich status for a catalog error."""
    spec = error.reason.spec
    details: list[any_pb2.Any] = []

    def attach(message: object) -> None:
        packed = any_pb2.Any()
        packed.Pack(message)  # type: ignore[arg-type]
        details.append(packed)

    attach(
        error_details_pb2.ErrorInfo(
            reason=error.reason.name, domain=DOMAIN, metadata=dict(error.metadata)
        )
    )
    if isinstance(error, ValidationError):
        attach(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    if isinstance(error, RateLimitedError):
        attach(
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=error.quota_subject, description=error.message
                    )
                ]
            )
        )
    if error.retry_after_ms:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(error.retry_after_ms)
        attach(error_details_pb2.RetryInfo(retry_delay=delay))
    return status_pb2.Status(
        code=grpc.StatusCode[spec.code.value].value[0], message=error.message, details=details
    )


def encode_error(error: PaycoreError) -> bytes:
    """The status as bytes, for storing with an idempotent request's outcome."""
    encoded: bytes = to_status(error).SerializeToString(deterministic=True)
    return encoded


def internal_error() -> bytes:
    """The status sent for a bug: says nothing of internals."""
    return encode_error(PaycoreError(Reason.INTERNAL_ERROR))


def status_code_name(status_bytes: bytes) -> str:
    """The gRPC code name (INVALID_ARGUMENT, ...) of an encoded google.rpc.Status."""
    return _BY_NUMBER[status_pb2.Status.FromString(status_bytes).code].name


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], status_bytes: bytes) -> None:
    """End the call with an encoded google.rpc.Status (raises grpc's AbortError)."""
    status = status_pb2.Status.FromString(status_bytes)
    await context.abort(
        _BY_NUMBER[status.code],
        status.message,
        trailing_metadata=((_DETAILS_KEY, status_bytes),),
    )
