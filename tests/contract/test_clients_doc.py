"""docs/CLIENTS.md: the ErrorInfo.reason table matches the catalog, and the mapping rule holds."""

from __future__ import annotations

from core.domain.errors import Reason
from paycore.v1 import error_reason_pb2
from tools import error_reasons_doc


def test_the_error_reason_table_in_the_clients_guide_is_up_to_date() -> None:
    # Fails with "run python tools/error_reasons_doc.py" on stderr when stale.
    assert error_reasons_doc.main(["--check"]) == 0


def test_the_table_has_a_row_for_every_catalog_reason_with_its_enum_number() -> None:
    document = error_reasons_doc.DOCUMENT.read_text()
    for reason in Reason:
        number = error_reason_pb2.ErrorReason.Value(f"ERROR_REASON_{reason.name}")
        enum = f"`ERROR_REASON_{reason.name}` = {number}"
        row = f"| `{reason.name}` | {enum} | {reason.spec.code.value} |"
        assert row in document, row


def test_a_stale_table_is_replaced_between_the_markers() -> None:
    stale = f"intro\n{error_reasons_doc.START}\n| old |\n{error_reasons_doc.END}\noutro\n"
    fresh = error_reasons_doc.updated(stale)
    assert fresh.startswith(f"intro\n{error_reasons_doc.START}\n| `ErrorInfo.reason` |")
    assert fresh.endswith(f"{error_reasons_doc.END}\noutro\n")
    assert "| old |" not in fresh
    assert error_reasons_doc.updated(fresh) == fresh
