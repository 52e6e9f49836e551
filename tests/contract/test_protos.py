"""The API contract in protos/paycore: lint, generated code, documentation, money types.

These run ``buf`` (the buf-bin dev dependency) offline; each call takes well
under a second.
"""

from __future__ import annotations

import difflib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from core.domain.errors import Reason
from tests.support.buf import output, run_buf

REPO = Path(__file__).resolve().parents[2]
GENERATED = Path("clients/python/paycore/v1")

F = descriptor_pb2.FieldDescriptorProto


@pytest.fixture(scope="module")
def paycore_files(
    tmp_path_factory: pytest.TempPathFactory,
) -> list[descriptor_pb2.FileDescriptorProto]:
    """paycore's .proto files as descriptors, with comments (source code info)."""
    image = tmp_path_factory.mktemp("buf") / "image.binpb"
    process = run_buf("build", "--as-file-descriptor-set", "-o", str(image), cwd=REPO)
    assert process.returncode == 0, output(process)
    files = descriptor_pb2.FileDescriptorSet.FromString(image.read_bytes()).file
    ours = [f for f in files if f.name.startswith("paycore/")]
    assert {f.name for f in ours} >= {
        "paycore/v1/error_reason.proto",
        "paycore/v1/payment.proto",
        "paycore/v1/payment_service.proto",
    }
    return ours


# --- lint and generated code --------------------------------------------------


def test_buf_lint_passes() -> None:
    process = run_buf("lint", cwd=REPO)
    assert process.returncode == 0, output(process)


def generated_files(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != "__init__.py" and "__pycache__" not in path.parts
    }


def test_generated_python_code_matches_the_protos(tmp_path: Path) -> None:
    for name in ("protos", "tools"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("buf.yaml", "buf.gen.yaml"):
        shutil.copy2(REPO / name, tmp_path / name)

    process = run_buf("generate", cwd=tmp_path)
    assert process.returncode == 0, output(process)

    fresh = generated_files(tmp_path / GENERATED)
    committed = generated_files(REPO / GENERATED)
    assert fresh, (
        "buf generate produced nothing; is buf.gen.yaml's output path still clients/python?"
    )

    problems = []
    for name in sorted(fresh.keys() - committed.keys()):
        problems.append(f"missing from the repo (run `make proto`): {name}")
    for name in sorted(committed.keys() - fresh.keys()):
        problems.append(f"stale, no longer generated: {name}")
    for name in sorted(fresh.keys() & committed.keys()):
        if fresh[name] != committed[name]:
            diff = difflib.unified_diff(
                committed[name].decode(errors="replace").splitlines(),
                fresh[name].decode(errors="replace").splitlines(),
                f"repo/{name}",
                f"generated/{name}",
                lineterm="",
                n=1,
            )
            problems.append(f"differs: {name}\n" + "\n".join(list(diff)[:40]))
    assert not problems, "generated code drifted from protos/:\n" + "\n".join(problems)


# --- documentation ------------------------------------------------------------

# Field numbers of descriptor.proto, as used in SourceCodeInfo.Location.path.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM, MESSAGE_ONEOF = 2, 3, 4, 8
ENUM_VALUE = 2
SERVICE_METHOD = 2


def documentable_elements(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[tuple[int, ...], str]]:
    """(source path, readable name) of every service, RPC, message, field, enum and value."""
    package = file.package

    def enum(
        e: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...], scope: str
    ) -> Iterator[tuple[tuple[int, ...], str]]:
        name = f"{scope}.{e.name}"
        yield path, f"enum {name}"
        for i, value in enumerate(e.value):
            yield (*path, ENUM_VALUE, i), f"enum value {name}.{value.name}"

    def message(
        m: descriptor_pb2.DescriptorProto, path: tuple[int, ...], scope: str
    ) -> Iterator[tuple[tuple[int, ...], str]]:
        if m.options.map_entry:  # synthesized for map<,> fields; has no source
            return
        name = f"{scope}.{m.name}"
        yield path, f"message {name}"
        for i, field in enumerate(m.field):
            yield (*path, MESSAGE_FIELD, i), f"field {name}.{field.name}"
        for i, oneof in enumerate(m.oneof_decl):
            yield (*path, MESSAGE_ONEOF, i), f"oneof {name}.{oneof.name}"
        for i, nested in enumerate(m.nested_type):
            yield from message(nested, (*path, MESSAGE_NESTED, i), name)
        for i, nested_enum in enumerate(m.enum_type):
            yield from enum(nested_enum, (*path, MESSAGE_ENUM, i), name)

    for i, m in enumerate(file.message_type):
        yield from message(m, (FILE_MESSAGE, i), package)
    for i, e in enumerate(file.enum_type):
        yield from enum(e, (FILE_ENUM, i), package)
    for i, service in enumerate(file.service):
        name = f"{package}.{service.name}"
        yield (FILE_SERVICE, i), f"service {name}"
        for j, method in enumerate(service.method):
            yield (FILE_SERVICE, i, SERVICE_METHOD, j), f"rpc {name}.{method.name}"


def leading_comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {
        tuple(location.path): location.leading_comments
        for location in file.source_code_info.location
    }


def test_every_api_element_has_a_leading_comment(
    paycore_files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    undocumented = []
    checked = 0
    for file in paycore_files:
        assert file.source_code_info.location, f"{file.name}: built without source info"
        comments = leading_comments(file)
        for path, name in documentable_elements(file):
            checked += 1
            if not comments.get(path, "").strip():
                undocumented.append(f"{file.name}: {name}")
    # Services, RPCs, messages, fields and enum values of three files: far more than 100.
    assert checked > 100
    assert not undocumented, "add a leading comment to:\n" + "\n".join(undocumented)


def test_error_reason_comments_state_the_catalog_status_code(
    paycore_files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    (file,) = [f for f in paycore_files if f.name == "paycore/v1/error_reason.proto"]
    (error_reason,) = [e for e in file.enum_type if e.name == "ErrorReason"]
    index = {e.name: i for i, e in enumerate(file.enum_type)}["ErrorReason"]
    comments = leading_comments(file)
    wrong = []
    for i, value in enumerate(error_reason.value):
        name = value.name.removeprefix("ERROR_REASON_")
        if name not in Reason.__members__:
            continue  # reported by test_error_reasons_match_proto
        spec = Reason[name].spec
        comment = " ".join(comments.get((FILE_ENUM, index, ENUM_VALUE, i), "").split())
        expected = f"{spec.code.value} (retryable):" if spec.retryable else f"{spec.code.value}:"
        if not comment.startswith(expected):
            wrong.append(f"{value.name}: comment should start with {expected!r}, is {comment!r}")
    assert not wrong, "\n".join(wrong)


# --- money --------------------------------------------------------------------


def all_fields(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[str, descriptor_pb2.FieldDescriptorProto]]:
    def walk(
        m: descriptor_pb2.DescriptorProto, scope: str
    ) -> Iterator[tuple[str, descriptor_pb2.FieldDescriptorProto]]:
        name = f"{scope}.{m.name}"
        for field in m.field:
            yield f"{name}.{field.name}", field
        for nested in m.nested_type:
            yield from walk(nested, name)

    for m in file.message_type:
        yield from walk(m, file.package)


def test_no_field_is_a_binary_floating_point_number(
    paycore_files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    fields = [(name, f) for file in paycore_files for name, f in all_fields(file)]
    assert len(fields) > 50
    floating = [name for name, f in fields if f.type in (F.TYPE_FLOAT, F.TYPE_DOUBLE)]
    assert not floating, f"money and scores must not be float/double: {floating}"


def test_amount_fields_are_google_type_money(
    paycore_files: list[descriptor_pb2.FileDescriptorProto],
) -> None:
    amounts = [
        (name, f)
        for file in paycore_files
        for name, f in all_fields(file)
        if f.name == "amount" or f.name.startswith("amount_")
    ]
    assert amounts
    not_money = [name for name, f in amounts if f.type_name != ".google.type.Money"]
    assert not not_money, f"amounts must be google.type.Money: {not_money}"
