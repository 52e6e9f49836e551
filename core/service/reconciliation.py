"""The reconciliation job: one channel's settlement report against paycore's records."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from core.domain.reconciliation import Mismatch, SettlementLine, reconcile
from core.storage.reconciliation import recorded_attempts

log = logging.getLogger(__name__)


async def reconcile_channel(
    pool: asyncpg.Pool,
    channel: str,
    report: Sequence[SettlementLine],
    since: datetime,
    until: datetime,
) -> list[Mismatch]:
    """Mismatches between ``report`` and the attempts paycore made on ``channel`` in the period.

    The report should cover the same period; lines of attempts recorded
    outside it show up as MISSING_IN_PAYCORE. Each mismatch is also logged.
    """
    mismatches = reconcile(report, await recorded_attempts(pool, channel, since, until))
    for mismatch in mismatches:
        log.warning(
            "reconciliation %s: %s on %s (channel %s, paycore %s)",
            channel,
            mismatch.kind.value,
            mismatch.attempt_id,
            mismatch.channel_line.status if mismatch.channel_line else "-",
            mismatch.recorded.outcome if mismatch.recorded else "-",
        )
    return mismatches
