"""A client that knows nothing but server reflection can decode every paycore answer.

The client here is grpcio-reflection's own ProtoReflectionDescriptorDatabase,
spoken over both ``grpc.reflection.v1`` (what grpcurl, buf curl and Postman try
first) and ``grpc.reflection.v1alpha``. Its descriptor pool starts empty: every
type it decodes came from the server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status

from core.api.server import PAYCORE_SERVICES, PaycoreServer
from paycore.v1 import payment_service_pb2, payment_service_pb2_grpc
from tests.support.auth import Metadata

T = TypeVar("T")

VERSIONS = ("grpc.reflection.v1", "grpc.reflection.v1alpha")

ERROR_TYPES = (
    "google.rpc.Status",
    "google.rpc.ErrorInfo",
    "google.rpc.BadRequest",
    "google.rpc.RetryInfo",
    "google.rpc.QuotaFailure",
)


class _ReflectionStub:
    """ServerReflectionStub for either version: the messages are identical on the wire."""

    def __init__(self, channel: grpc.Channel, version: str) -> None:
        self.ServerReflectionInfo = channel.stream_stream(
            f"/{version}.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )


async def _reflect(
    server: PaycoreServer, version: str, use: Callable[[ProtoReflectionDescriptorDatabase], T]
) -> T:
    """Run ``use`` with a reflection client of ``version``, off the server's event loop."""

    def blocking() -> T:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            database = ProtoReflectionDescriptorDatabase(channel)
            database._stub = _ReflectionStub(channel, version)
            return use(database)

    # The reflection client is synchronous; the server runs on this test's loop.
    return await asyncio.wait_for(asyncio.to_thread(blocking), timeout=60)


@pytest.mark.parametrize("version", VERSIONS)
async def test_reflection_lists_paycore_and_both_reflection_versions(
    server: PaycoreServer, version: str
) -> None:
    services = await _reflect(server, version, lambda db: set(db.get_services()))
    assert services >= {*PAYCORE_SERVICES, *(f"{v}.ServerReflection" for v in VERSIONS)}


@pytest.mark.parametrize("version", VERSIONS)
async def test_reflection_serves_the_error_detail_types_and_the_error_reason_enum(
    server: PaycoreServer, version: str
) -> None:
    def resolve(database: ProtoReflectionDescriptorDatabase) -> tuple[list[str], list[str]]:
        pool = descriptor_pool.DescriptorPool(database)
        messages = [pool.FindMessageTypeByName(name).full_name for name in ERROR_TYPES]
        enums = [
            pool.FindEnumTypeByName(name).full_name
            for name in ("paycore.v1.ErrorReason", "google.rpc.Code")
        ]
        return messages, enums

    messages, enums = await _reflect(server, version, resolve)
    assert messages == list(ERROR_TYPES)
    assert enums == ["paycore.v1.ErrorReason", "google.rpc.Code"]


@pytest.mark.parametrize("version", VERSIONS)
async def test_reflection_describes_the_reflection_service_itself(
    server: PaycoreServer, version: str
) -> None:
    def describe(database: ProtoReflectionDescriptorDatabase) -> list[str]:
        service = descriptor_pool.DescriptorPool(database).FindServiceByName(
            f"{version}.ServerReflection"
        )
        return [method.input_type.full_name for method in service.methods]

    assert await _reflect(server, version, describe) == [f"{version}.ServerReflectionRequest"]


async def test_an_invalid_request_is_decoded_with_reflected_types_only(
    server: PaycoreServer,
    stub: payment_service_pb2_grpc.PaymentServiceStub,
    metadata: Metadata,
) -> None:
    create: Any = stub.CreatePayment  # the generated stub's types are the sync ones
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await create(
            payment_service_pb2.CreatePaymentRequest(request_id=str(uuid.uuid4())),
            metadata=metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)  # type: ignore[arg-type]  # stubs predate grpc.aio
    assert status is not None

    def decode(database: ProtoReflectionDescriptorDatabase) -> dict[str, Message]:
        pool = descriptor_pool.DescriptorPool(database)
        decoded = {}
        for detail in status.details:
            name = detail.type_url.rpartition("/")[2]
            message = message_factory.GetMessageClass(pool.FindMessageTypeByName(name))()
            message.ParseFromString(detail.value)
            decoded[name] = message
        reason = pool.FindEnumTypeByName("paycore.v1.ErrorReason")
        info = decoded["google.rpc.ErrorInfo"]
        # The documented rule: ErrorInfo.reason is the enum value's name without the prefix.
        assert reason.values_by_name[f"ERROR_REASON_{info.reason}"].number > 0  # type: ignore[attr-defined]
        return decoded

    decoded = await _reflect(server, "grpc.reflection.v1", decode)
    fields = {v.field for v in decoded["google.rpc.BadRequest"].field_violations}  # type: ignore[attr-defined]
    assert fields == {"amount", "payment_method"}
    # The status message alone (all that a plain gRPC client prints) names them too.
    assert "amount: " in status.message and "payment_method: " in status.message
