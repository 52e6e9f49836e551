"""Reconciliation includes dispute movements: the channel's chargeback lines against paycore's.

Real PostgreSQL: the disputes are opened and decided through the channel's
signed notices; the channel's report is its attempts plus the dispute lines
it would list, each keyed by its own dispute reference.
"""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime, timedelta

from core.domain.reconciliation import (
    MismatchKind,
    SettlementLine,
    parse_settlement_csv,
    settlement_csv,
)
from core.service.reconciliation import reconcile_channel
from core.storage.reconciliation import recorded_movements
from paycore.v1 import payment_pb2 as pb
from tests.disputes.conftest import DisputeStack
from tests.support.requests import usd

K = MismatchKind


def _chargeback(payment: pb.Payment, amount: int, operation: str = "chargeback") -> SettlementLine:
    return SettlementLine(f"ch_dp_{payment.id}", operation, amount, "USD", "succeeded")


async def test_a_channels_dispute_lines_are_reconciled_against_paycores_disputes(
    stack: DisputeStack,
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    api = stack.served.api
    kept, won, short, dropped = [await api.captured(amount=usd(20 + i)) for i in range(4)]
    asked = await api.captured(amount=usd(30))
    for payment in (kept, won, short, dropped):
        assert await stack.notify(payment, amount=1_500) == (200, "[accepted]")
    assert await stack.notify(won, "won") == (200, "[accepted]")
    assert await stack.notify(asked, kind="inquiry") == (200, "[accepted]")  # moves nothing
    until = datetime.now(UTC) + timedelta(minutes=1)
    report = [
        *stack.acquirer.settlement_report(),
        _chargeback(kept, 1_500),
        _chargeback(won, 1_500),
        _chargeback(won, 1_500, "chargeback_reversal"),
        _chargeback(short, 1_400),
        # A chargeback paycore never heard of (its notification lost).
        dataclasses.replace(_chargeback(kept, 900), attempt_id="ch_dp_never_notified"),
    ]  # `dropped` is left out

    mismatches = await reconcile_channel(
        functools.partial(recorded_movements, stack.served.services.pool),
        stack.acquirer.name,
        parse_settlement_csv(settlement_csv(report)),
        since,
        until,
    )

    assert {(m.kind, m.attempt_id) for m in mismatches} == {
        (K.AMOUNT_MISMATCH, f"ch_dp_{short.id}"),
        (K.MISSING_AT_CHANNEL, f"ch_dp_{dropped.id}"),
        (K.MISSING_IN_PAYCORE, "ch_dp_never_notified"),
    }
    # Outside the period, the same disputes are expected in no report.
    later = await recorded_movements(
        stack.served.services.pool, stack.acquirer.name, until, until + timedelta(hours=1)
    )
    assert later == []


async def test_a_dispute_won_later_is_a_reversal_of_the_later_period(stack: DisputeStack) -> None:
    payment = await stack.served.api.captured(amount=usd(20))
    assert await stack.notify(payment, amount=1_000) == (200, "[accepted]")
    opened_by = datetime.now(UTC)
    assert await stack.notify(payment, "won") == (200, "[accepted]")
    pool = stack.served.services.pool
    # The win is recorded after the opening: split the periods between them.
    await pool.execute(
        "UPDATE disputes SET create_time = $2 WHERE merchant_id = $3 AND payment_id = $1",
        payment.id,
        opened_by - timedelta(hours=2),
        stack.served.api.merchant_id,
    )

    earlier = await recorded_movements(
        pool, stack.acquirer.name, opened_by - timedelta(hours=3), opened_by - timedelta(hours=1)
    )
    now = await recorded_movements(
        pool, stack.acquirer.name, opened_by - timedelta(minutes=1), datetime.now(UTC)
    )

    assert [(r.attempt_id, r.operation) for r in earlier] == [(f"ch_dp_{payment.id}", "chargeback")]
    assert [(r.operation, r.amount_minor) for r in now if r.attempt_id.startswith("ch_dp")] == [
        ("chargeback_reversal", 1_000)
    ]
