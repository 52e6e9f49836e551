"""Every role x every RPC: the policy table is what the server enforces, over a real channel.

The matrix is driven by the services the server registers, so an RPC added
later is covered without touching this file: each RPC is called with an
empty request (which changes nothing: mutations need a request_id) by a key
of each role. Below the RPC's role the answer must be PERMISSION_DENIED; at or
above it, anything but PERMISSION_DENIED or UNAUTHENTICATED (an empty request
is usually INVALID_ARGUMENT, a list is OK).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor

import paycore.v1
from core.app import Services
from core.auth.policy import POLICY, Role
from tests.support.auth import Metadata, merchant_metadata, platform_metadata
from tests.support.expect import error_info


def _served_methods() -> list[MethodDescriptor]:
    methods = []
    for module_info in pkgutil.iter_modules(paycore.v1.__path__):
        if not module_info.name.endswith("_service_pb2"):
            continue
        module = importlib.import_module(f"paycore.v1.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            methods += list(service.methods)
    return methods


METHODS = {f"{m.containing_service.full_name}/{m.name}": m for m in _served_methods()}


def test_the_matrix_covers_every_rpc_in_the_policy_table() -> None:
    assert set(METHODS) == set(POLICY)


async def _metadata_for(role: Role, services: Services, merchant_id: str) -> Metadata:
    if role is Role.SUPERADMIN:
        await merchant_metadata(services.pool, merchant_id)  # the merchant exists
        return await platform_metadata(services.pool, acting_for=merchant_id)
    return await merchant_metadata(services.pool, merchant_id, role)


async def _call_empty(
    channel: grpc.aio.Channel, method: MethodDescriptor, metadata: Metadata
) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    if method.server_streaming:
        call: Any = channel.unary_stream(path, request_serializer=None, response_deserializer=None)
        stream = call(b"", metadata=metadata, timeout=5)
        try:
            await stream.read()  # the first message, or the error
        except grpc.aio.AioRpcError as error:
            return error.code()
        finally:
            stream.cancel()
        return grpc.StatusCode.OK
    unary: Any = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    try:
        await unary(b"", metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as error:
        if error.code() is grpc.StatusCode.PERMISSION_DENIED:
            assert error_info(error).reason == "PERMISSION_DENIED"
        return error.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("role", list(Role), ids=[r.label for r in Role])
@pytest.mark.parametrize("full_method", sorted(POLICY))
async def test_each_role_may_call_exactly_the_rpcs_of_its_rank(
    grpc_channel: grpc.aio.Channel,
    services: Services,
    merchant_id: str,
    role: Role,
    full_method: str,
) -> None:
    metadata = await _metadata_for(role, services, merchant_id)

    code = await _call_empty(grpc_channel, METHODS[full_method], metadata)

    if role < POLICY[full_method]:
        assert code is grpc.StatusCode.PERMISSION_DENIED
    else:
        assert code not in {
            grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.UNKNOWN,
            grpc.StatusCode.INTERNAL,
        }, code


async def test_a_platform_key_naming_no_merchant_cannot_touch_merchant_data(
    grpc_channel: grpc.aio.Channel, services: Services
) -> None:
    metadata = await platform_metadata(services.pool)
    merchant_rpcs = [m for m, role in POLICY.items() if role < Role.SUPERADMIN]

    for full_method in merchant_rpcs:
        method = METHODS[full_method]
        if method.server_streaming:
            continue  # covered by its own service's tests
        call: Any = grpc_channel.unary_unary(
            f"/{full_method}", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(b"", metadata=metadata, timeout=10)
        assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED, full_method
        assert error_info(caught.value).reason == "MERCHANT_IDENTITY_MISSING"
