"""Server reflection, ``grpc.reflection.v1`` and ``v1alpha``, with every type a client decodes.

grpcurl, buf curl, Postman and grpcui find paycore's services by reflection. A
client also has to decode what paycore sends back inside ``google.protobuf.Any``
and ``ErrorInfo.reason``: the google.rpc error details and ``paycore.v1.ErrorReason``.
Reflection answers from the default descriptor pool, so the modules of those
types are imported here: nothing else in the server needs ``ErrorReason``, and
without this import ``file_containing_symbol("paycore.v1.ErrorReason")`` is NOT_FOUND.

grpcio-reflection implements only ``v1alpha`` (grpc/grpc#38576). ``v1`` is the
same protocol under another package name (every message and field number is
identical), so the one servicer also answers under the ``v1`` service name, and
the ``v1`` file is registered as a renamed copy of the ``v1alpha`` one so that
the reflection service can describe itself under both names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from paycore.v1 import error_reason_pb2

V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
V1_FILE_NAME = "grpc/reflection/v1/reflection.proto"

ERROR_TYPE_FILES = tuple(
    module.DESCRIPTOR.name for module in (status_pb2, error_details_pb2, code_pb2, error_reason_pb2)
)
"""The files of the types inside paycore's errors, kept in the pool reflection serves."""


def _register_v1_file(pool: descriptor_pool.DescriptorPool) -> None:
    """Add grpc/reflection/v1/reflection.proto to ``pool``: v1alpha's file, renamed."""
    try:
        pool.FindFileByName(V1_FILE_NAME)
        return  # another server in this process registered it already
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    old_prefix, new_prefix = f".{file.package}.", f".{V1_PACKAGE}."
    file.name, file.package = V1_FILE_NAME, V1_PACKAGE
    file.ClearField("options")  # java_package and the like name v1alpha
    for message in file.message_type:
        for field in message.field:
            if field.type_name.startswith(old_prefix):
                field.type_name = new_prefix + field.type_name.removeprefix(old_prefix)
    for service in file.service:
        for method in service.method:
            method.input_type = new_prefix + method.input_type.removeprefix(old_prefix)
            method.output_type = new_prefix + method.output_type.removeprefix(old_prefix)
    pool.Add(file)


def enable_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    """Serve reflection v1 and v1alpha on ``server``, listing ``service_names`` and itself."""
    pool = descriptor_pool.Default()
    for name in ERROR_TYPE_FILES:
        pool.FindFileByName(name)  # fails loudly at start-up if an import went missing
    _register_v1_file(pool)
    listed = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    # One servicer, two names: v1alpha through grpcio-reflection's own registration...
    # grpc-stubs does not know the asyncio servicer (reflection.aio, grpcio-reflection >= 1.30).
    servicer: Any = reflection.aio.ReflectionServicer(listed, pool=pool)  # type: ignore[attr-defined]
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    # ...and v1 by hand, with v1alpha's messages (the same bytes on the wire).
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                V1_SERVICE_NAME,
                {
                    "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                        servicer.ServerReflectionInfo,
                        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
                    )
                },
            ),
        )
    )
