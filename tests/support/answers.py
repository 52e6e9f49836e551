"""Calls as the exact bytes that came back: ``Answer``, ``answer_of`` and ``single_reply``.

``Answer`` is one call's outcome as bytes: the response exactly as it left the
server, or the google.rpc.Status of an error exactly as it was sent. Two
answers are equal only if they are byte-for-byte the same, which is what a
replayed reply must be.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from tests.support.auth import Metadata
from tests.support.expect import ABORTED, details_of
from tests.support.requests import wire

SERVICE = "/paycore.v1.PaymentService"
DETAILS_KEY = "grpc-status-details-bin"
OK = grpc.StatusCode.OK


@dataclass(frozen=True)
class Answer:
    """One call's outcome, as the bytes that were sent (response, or error status)."""

    code: grpc.StatusCode
    body: bytes

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.code == OK

    @property
    def status(self) -> status_pb2.Status:
        """The error's google.rpc.Status (only for failed calls)."""
        assert not self.ok, "a successful call has no status"
        return status_pb2.Status.FromString(self.body)

    def details(self, kind: type[Any]) -> list[Any]:
        """The error details of one type."""
        return details_of(self.status, kind)

    @property
    def reason(self) -> str:
        """The ErrorInfo reason of a failed call."""
        (info,) = self.details(error_details_pb2.ErrorInfo)
        return str(info.reason)

    @property
    def retry_delay_s(self) -> float | None:
        """The RetryInfo delay, or None without RetryInfo."""
        infos = self.details(error_details_pb2.RetryInfo)
        return infos[0].retry_delay.ToTimedelta().total_seconds() if infos else None

    def response(self, kind: type[Any]) -> Any:
        """The successful response, parsed."""
        assert self.ok, f"call failed: {self.code} {self.status.message}"
        return kind.FromString(self.body)

    def is_in_progress(self) -> bool:
        """ABORTED REQUEST_IN_PROGRESS with a RetryInfo: the documented answer to a repeat
        of a request that is still executing."""
        return (
            self.code == ABORTED
            and self.reason == "REQUEST_IN_PROGRESS"
            and (self.retry_delay_s or 0) > 0
        )

    def __repr__(self) -> str:
        if self.ok:
            return f"Answer(OK, {len(self.body)} bytes)"
        return f"Answer({self.code.name}, {self.reason})"


def rpc_name(request: Message) -> str:
    """The RPC a request message belongs to (CreatePaymentRequest -> CreatePayment)."""
    return request.DESCRIPTOR.name.removesuffix("Request")


async def answer_of(
    channel: grpc.aio.Channel, metadata: Metadata, request: Message, deadline_s: float | None = None
) -> Answer:
    """Send ``request`` (a PaymentService request) and return the exact bytes that came back.

    An error without a rich status (one from the transport: UNAVAILABLE while nothing
    listens, DEADLINE_EXCEEDED) has an empty body.
    """
    method = channel.unary_unary(
        f"{SERVICE}/{rpc_name(request)}", request_serializer=None, response_deserializer=None
    )
    try:
        body = await method(wire(request), metadata=metadata, timeout=deadline_s)
    except grpc.aio.AioRpcError as error:
        trailers: Any = error.trailing_metadata() or ()
        status = dict(trailers).get(DETAILS_KEY)
        return Answer(error.code(), status if isinstance(status, bytes) else b"")
    return Answer(OK, body)


def single_reply(answers: Iterable[Answer]) -> Answer:
    """The one successful answer of a batch of repeats; every other one is byte-identical
    to it or REQUEST_IN_PROGRESS (ABORTED + RetryInfo)."""
    answers = list(answers)
    successes = {a for a in answers if a.ok}
    assert len(successes) == 1, f"expected one distinct reply, got {len(successes)}"
    (reply,) = successes
    strays = [a for a in answers if a != reply and not a.is_in_progress()]
    assert not strays, strays
    return reply
