"""The server's error catalog and the published ErrorReason enum cannot drift apart."""

from __future__ import annotations

from core.domain.errors import Reason
from paycore.v1 import error_reason_pb2

PREFIX = "ERROR_REASON_"


def proto_reason_names() -> set[str]:
    names = set(error_reason_pb2.ErrorReason.keys())
    assert all(name.startswith(PREFIX) for name in names), names
    return {name.removeprefix(PREFIX) for name in names} - {"UNSPECIFIED"}


def test_proto_enumerates_reasons() -> None:
    # Guards the comparisons below against an empty or unloaded enum.
    assert error_reason_pb2.ErrorReason.Value("ERROR_REASON_UNSPECIFIED") == 0
    assert len(proto_reason_names()) >= 10


def test_every_catalog_reason_is_published_in_the_proto() -> None:
    missing = {reason.name for reason in Reason} - proto_reason_names()
    assert not missing, f"add ERROR_REASON_<name> to error_reason.proto for: {sorted(missing)}"


def test_every_proto_reason_exists_in_the_catalog() -> None:
    unknown = proto_reason_names() - {reason.name for reason in Reason}
    assert not unknown, f"error_reason.proto documents reasons the server lacks: {sorted(unknown)}"


def test_unspecified_is_not_a_catalog_reason() -> None:
    assert "UNSPECIFIED" not in Reason.__members__
