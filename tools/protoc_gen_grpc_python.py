"""A protoc plugin that runs grpcio-tools' built-in ``grpc_python`` generator.

buf can call protoc's built-in generators (``python``) through grpcio-tools'
bundled protoc, but the gRPC Python generator is compiled into that protoc
rather than shipped as a ``protoc-gen-grpc_python`` binary, so buf cannot see it.
This plugin bridges the two: it reads buf's CodeGeneratorRequest, hands the
already-parsed descriptors to grpcio-tools' protoc, and returns its output. The
generated code is therefore exactly what ``python -m grpc_tools.protoc
--grpc_python_out`` writes, with no network and no extra binary.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def generate(request: plugin_pb2.CodeGeneratorRequest) -> plugin_pb2.CodeGeneratorResponse:
    """Run grpc_python over the request's files and collect what it writes."""
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        descriptors = root / "descriptors.pb"
        descriptors.write_bytes(
            descriptor_pb2.FileDescriptorSet(file=request.proto_file).SerializeToString()
        )
        out = root / "out"
        out.mkdir()
        options = f"{request.parameter}:" if request.parameter else ""
        argv = [
            "grpc_tools.protoc",
            f"--descriptor_set_in={descriptors}",
            f"--grpc_python_out={options}{out}",
            *request.file_to_generate,
        ]
        if protoc.main(argv) != 0:
            response.error = "grpc_tools.protoc failed; see its message above"
            return response
        for path in sorted(out.rglob("*.py")):
            response.file.add(name=path.relative_to(out).as_posix(), content=path.read_text())
    return response


def main() -> int:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    sys.stdout.buffer.write(generate(request).SerializeToString())
    return 0


if __name__ == "__main__":
    sys.exit(main())
