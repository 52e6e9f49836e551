"""Rules reload without restart; a bad file keeps the previous rules (on disk and over gRPC)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.app import Services
from core.risk.rules_file import RulesFile, audit_to, default_rules_path
from core.storage.audit import append_to
from paycore.v1 import payment_pb2 as pb
from riskengine.rules import RulesError
from tests.support.requests import usd

from .conftest import Shop

MARKER = """
[[rule]]
id = "marker_amount"
description = "A tag for tests: 42.42 goes to review"
when = [["amount", "==", 4242]]
score = 1
action = "review"
"""


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # A distinct mtime even on coarse file systems: poll() compares mtime and size.
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_reload_swaps_good_rules_and_keeps_the_old_ones_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    write(path, MARKER)
    rules = RulesFile(path)
    assert [r.id for r in rules.engine.rules.rules] == ["marker_amount"]
    assert rules.poll() is None  # unchanged

    write(path, MARKER.replace("marker_amount", "renamed"))
    assert rules.poll() is True
    assert [r.id for r in rules.engine.rules.rules] == ["renamed"]

    write(path, MARKER.replace('"amount"', '"amonut"'))
    assert rules.poll() is False
    assert [r.id for r in rules.engine.rules.rules] == ["renamed"]
    assert "unknown feature 'amonut'" in rules.last_error

    path.unlink()
    assert rules.reload() is False
    assert [r.id for r in rules.engine.rules.rules] == ["renamed"]


def test_a_rules_file_that_does_not_load_stops_start_up(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    write(path, "[[rule]]\nid = 1\n")
    with pytest.raises(RulesError):
        RulesFile(path)


async def test_the_server_reloads_its_rules_and_survives_a_bad_edit(
    shop: Shop, services: Services, tmp_path: Path
) -> None:
    rules = services.rules
    path = tmp_path / "rules.toml"
    write(path, default_rules_path().read_text() + MARKER)
    shipped = rules.path
    rules.path = path
    try:
        assert rules.reload() is True
        tagged = await shop.score(amount=usd(42, 42))
        assert "marker_amount" in tagged.assessment.reasons
        assert (await shop.pay(amount=usd(42, 42))).state == pb.Payment.STATE_REQUIRES_REVIEW

        write(path, "this is [not toml")
        assert rules.poll() is False
        still = await shop.score(amount=usd(42, 42))
        assert "marker_amount" in still.assessment.reasons  # the previous rules stayed
    finally:
        rules.path = shipped
        assert rules.reload() is True
    assert "marker_amount" not in (await shop.score(amount=usd(42, 42))).assessment.reasons


async def test_a_rules_change_is_audited_and_a_refused_edit_is_not(
    services: Services, tmp_path: Path
) -> None:
    path = tmp_path / "audited.toml"
    write(path, default_rules_path().read_text())
    rules = RulesFile(path, on_change=audit_to(append_to(services.pool)))

    write(path, default_rules_path().read_text() + MARKER)
    assert await rules.poll_and_report() is True
    write(path, "this is [not toml")
    assert await rules.poll_and_report() is False

    rows = await services.pool.fetch(
        "SELECT * FROM audit_events WHERE resource_id = $1 ORDER BY id", str(path)
    )
    assert [(r["action"], r["actor_role"]) for r in rows] == [("risk_rules.reload", "system")]
    before_ids = {rule["id"] for rule in rows[0]["before"]["rules"]}
    after_ids = {rule["id"] for rule in rows[0]["after"]["rules"]}
    assert after_ids - before_ids == {"marker_amount"}
