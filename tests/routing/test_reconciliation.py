"""Reconciliation: each kind of mismatch, from the pure comparison to a real channel's report."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config import Settings
from core.domain.errors import ValidationError
from core.domain.reconciliation import (
    MismatchKind,
    RecordedAttempt,
    SettlementLine,
    parse_settlement_csv,
    reconcile,
    settlement_csv,
)
from core.service.reconciliation import reconcile_channel
from core.storage.reconciliation import recorded_attempts
from paycore.v1 import payment_pb2 as pb
from tests.routing.conftest import Stack
from tests.support.requests import CARD_DECLINED, card, usd

K = MismatchKind


def line(attempt_id: str, amount: int = 1000, status: str = "succeeded") -> SettlementLine:
    return SettlementLine(attempt_id, "authorize", amount, "USD", status)


def record(attempt_id: str, amount: int = 1000, outcome: str = "succeeded") -> RecordedAttempt:
    return RecordedAttempt(attempt_id, "pay_1", "authorize", amount, "USD", outcome)


def test_matching_sides_and_unsent_declines_are_not_mismatches() -> None:
    assert reconcile([line("att_1")], [record("att_1"), record("att_2", outcome="failed")]) == []


@pytest.mark.parametrize(
    ("report", "records", "kind"),
    [
        ([line("att_1")], [], K.MISSING_IN_PAYCORE),
        ([], [record("att_1")], K.MISSING_AT_CHANNEL),
        ([line("att_1", amount=999)], [record("att_1")], K.AMOUNT_MISMATCH),
        ([line("att_1", status="declined")], [record("att_1")], K.STATUS_MISMATCH),
        ([line("att_1")], [record("att_1", outcome="unknown")], K.STATUS_MISMATCH),
    ],
)
def test_each_kind_of_mismatch_is_found(
    report: list[SettlementLine], records: list[RecordedAttempt], kind: MismatchKind
) -> None:
    (mismatch,) = reconcile(report, records)

    assert (mismatch.kind, mismatch.attempt_id) == (kind, "att_1")


def test_dispute_lines_match_by_reference_and_operation_beside_attempts() -> None:
    opened = SettlementLine("ch_dp_1", "chargeback", 1000, "USD", "succeeded")
    returned = dataclasses.replace(opened, operation="chargeback_reversal")
    paycore_opened = RecordedAttempt("ch_dp_1", "pay_1", "chargeback", 1000, "USD", "succeeded")
    paycore_returned = dataclasses.replace(paycore_opened, operation="chargeback_reversal")

    assert reconcile([opened, returned], [paycore_opened, paycore_returned]) == []
    (missing,) = reconcile([opened], [paycore_opened, paycore_returned])
    assert (missing.kind, missing.attempt_id) == (K.MISSING_AT_CHANNEL, "ch_dp_1")
    assert missing.recorded == paycore_returned
    (short,) = reconcile([dataclasses.replace(opened, amount_minor=999)], [paycore_opened])
    assert short.kind is K.AMOUNT_MISMATCH


def test_settlement_csv_round_trips_and_bad_lines_are_named() -> None:
    lines = [line("att_1"), line("att_2", 5, "declined")]

    assert parse_settlement_csv(settlement_csv(lines)) == lines
    with pytest.raises(ValidationError) as bad:
        parse_settlement_csv(settlement_csv(lines) + "att_3,authorize,ten,USD,succeeded\n")
    assert [v.field for v in bad.value.violations] == ["line 4"]


async def test_a_channels_report_is_reconciled_against_paycores_attempts(stack: Stack) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    ok, short, dropped, flipped = [await stack.api.create(amount=usd(10 + i)) for i in range(4)]
    declined = await stack.api.create(payment_method=card(CARD_DECLINED))
    pending = await stack.api.create(amount=usd(999, 1))  # charged, answer lost: still unknown
    until = datetime.now(UTC) + timedelta(minutes=1)
    channel_side = {entry.attempt_id: entry for entry in stack.a.settlement_report()}

    def at_channel(payment: pb.Payment) -> SettlementLine:
        return channel_side[payment.attempts[0].id]

    report = [  # the channel's report, with one of each kind of disagreement
        at_channel(ok),
        dataclasses.replace(at_channel(short), amount_minor=1),
        dataclasses.replace(at_channel(flipped), status="failed"),
        at_channel(declined),
        at_channel(pending),
        line("att_foreign"),
    ]  # `dropped` is left out

    mismatches = await reconcile_channel(
        functools.partial(recorded_attempts, stack.services.pool),
        stack.a.name,
        parse_settlement_csv(settlement_csv(report)),
        since,
        until,
    )

    assert {(m.kind, m.attempt_id) for m in mismatches} == {
        (K.AMOUNT_MISMATCH, short.attempts[0].id),
        (K.MISSING_AT_CHANNEL, dropped.attempts[0].id),
        (K.STATUS_MISMATCH, flipped.attempts[0].id),
        (K.STATUS_MISMATCH, pending.attempts[0].id),
        (K.MISSING_IN_PAYCORE, "att_foreign"),
    }


async def test_the_reconcile_command_prints_mismatches_and_exits_1(
    stack: Stack, settings: Settings, tmp_path: Path
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    kept, dropped = await stack.api.create(amount=usd(7)), await stack.api.create(amount=usd(8))
    report = [e for e in stack.a.settlement_report() if e.attempt_id == kept.attempts[0].id]
    csv_file = tmp_path / "settlement.csv"
    csv_file.write_text(settlement_csv(report))
    until = datetime.now(UTC) + timedelta(minutes=1)
    assert settings.postgres_dsn and settings.redis_url

    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "core.cli", "reconcile", "--channel", stack.a.name),
        *("--file", str(csv_file), "--since", since.isoformat(), "--until", until.isoformat()),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "PAYCORE_POSTGRES_DSN": settings.postgres_dsn,
            "PAYCORE_REDIS_URL": settings.redis_url,
        },
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 1, err.decode()
    (printed,) = [json.loads(row) for row in out.decode().splitlines()]
    assert (printed["kind"], printed["attempt_id"]) == (
        "missing_at_channel",
        dropped.attempts[0].id,
    )
    assert printed["paycore"]["amount_minor"] == 800
