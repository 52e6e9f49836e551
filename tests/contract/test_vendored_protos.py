"""protos/ compiles with plain protoc from the two documented include paths, offline.

Other languages decode paycore's errors with the google.rpc files vendored in
protos/vendor; they must describe exactly the types the server encodes with
(googleapis-common-protos' modules, which the Python code keeps using).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import grpc_tools
import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor
from google.rpc import code_pb2, error_details_pb2, status_pb2
from google.type import money_pb2

REPO = Path(__file__).resolve().parents[2]
INCLUDE_PATHS = ("protos", "protos/vendor")


@pytest.fixture(scope="module")
def compiled(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Every paycore file and its imports, compiled by protoc with -I protos -I protos/vendor."""
    well_known = Path(grpc_tools.__file__).parent / "_proto"  # google/protobuf/*.proto
    out = tmp_path_factory.mktemp("protoc") / "set.binpb"
    sources = sorted(
        p.relative_to(REPO / "protos").as_posix()
        for p in (REPO / "protos/paycore").rglob("*.proto")
    )
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            *(f"-I{path}" for path in INCLUDE_PATHS),
            f"-I{well_known}",
            "--include_imports",
            f"--descriptor_set_out={out}",
            *sources,
            "google/rpc/status.proto",
            "google/rpc/error_details.proto",
            "google/rpc/code.proto",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return {f.name: f for f in files}


def test_every_import_resolves_from_the_two_include_paths(
    compiled: dict[str, descriptor_pb2.FileDescriptorProto],
) -> None:
    vendored = {
        p.relative_to(REPO / "protos/vendor").as_posix()
        for p in (REPO / "protos/vendor").rglob("*.proto")
    }
    assert vendored == {
        "google/type/money.proto",
        "google/rpc/status.proto",
        "google/rpc/error_details.proto",
        "google/rpc/code.proto",
    }
    assert vendored <= compiled.keys()
    assert "paycore/v1/payment_service.proto" in compiled


@pytest.mark.parametrize(
    "module_descriptor",
    [
        status_pb2.DESCRIPTOR,
        error_details_pb2.DESCRIPTOR,
        code_pb2.DESCRIPTOR,
        money_pb2.DESCRIPTOR,
    ],
    ids=lambda d: d.name,
)
def test_vendored_files_describe_the_types_the_server_encodes(
    compiled: dict[str, descriptor_pb2.FileDescriptorProto], module_descriptor: FileDescriptor
) -> None:
    expected = descriptor_pb2.FileDescriptorProto()
    module_descriptor.CopyToProto(expected)
    vendored = compiled[module_descriptor.name]
    vendored.ClearField("source_code_info")
    without_json_names(vendored.message_type)  # CopyToProto leaves the default ones out
    # Messages, fields, numbers, enums and options: everything but comments.
    assert vendored == expected


def without_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        without_json_names(message.nested_type)


def test_every_paycore_file_names_its_package_for_other_languages(
    compiled: dict[str, descriptor_pb2.FileDescriptorProto],
) -> None:
    ours = [f for f in compiled.values() if f.package == "paycore.v1"]
    assert len(ours) >= 10
    options = {
        (
            f.options.go_package,
            f.options.java_package,
            f.options.java_multiple_files,
            f.options.csharp_namespace,
            f.options.php_namespace,
            f.options.ruby_package,
            f.options.objc_class_prefix,
        )
        for f in ours
    }
    assert options == {
        (
            "paycore/gen/go/paycore/v1;paycorev1",
            "com.paycore.v1",
            True,
            "Paycore.V1",
            "Paycore\\V1",
            "Paycore::V1",
            "PCX",
        )
    }
    outer = {f.name: f.options.java_outer_classname for f in ours}
    assert outer["paycore/v1/payment_service.proto"] == "PaymentServiceProto"
    assert len(set(outer.values())) == len(ours)
