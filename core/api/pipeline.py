"""The RPC pipeline every paycore service runs through: caller, request, handler, status.

Each RPC runs through one pipeline (``_pipeline``): resolve the caller and
check its role (``core.auth.policy``), parse the request bytes, call the
handler, and turn any error into a rich status in exactly one place, inside
the RPC's span and with its telemetry. Handlers (the ``*_handlers`` modules)
translate protobuf <-> domain and call the service; the service never sees a
protobuf message.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.trace import Status, StatusCode

from core.api.identity import Caller, IdentityResolver
from core.api.status import abort_with, encode_error, internal_error, status_code_name
from core.auth import policy
from core.domain.errors import FieldViolation, PaycoreError, ValidationError
from core.ports.telemetry import GRPC_STATUS, MERCHANT, REQUEST_ID, RPC_METHOD, RPC_SERVICE
from core.service.execution import Reply
from core.telemetry import Telemetry
from core.telemetry import context as log_context

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)


def _serialize(response: bytes | Message) -> bytes:
    if isinstance(response, bytes):
        return response
    return response.SerializeToString(deterministic=True)


Handler = Callable[[Caller, Any], Awaitable["Reply | Message"]]
"""A unary RPC: answers a stored ``Reply`` or a response message (see ``service_handler``)."""


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
