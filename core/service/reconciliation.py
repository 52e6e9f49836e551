"""The reconciliation job: one channel's settlement report against paycore's records.

The records come through ``RecordedAttempts`` (a read bound to a pool by the
caller: ``core.storage.reconciliation.recorded_movements``, the attempts and the
dispute movements), so this job imports no database driver.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from core.domain.reconciliation import Mismatch, RecordedAttempt, SettlementLine, reconcile

log = logging.getLogger(__name__)

RecordedAttempts = Callable[[str, datetime, datetime], Awaitable[list[RecordedAttempt]]]
"""Reads every attempt (and dispute movement) paycore recorded on a channel in
``[since, until)``."""


async def reconcile_channel(
    recorded_attempts: RecordedAttempts,
    channel: str,
    report: Sequence[SettlementLine],
    since: datetime,
    until: datetime,
) -> list[Mismatch]:
    """Mismatches between ``report`` and what paycore recorded on ``channel`` in the period.

    The report should cover the same period; lines of attempts recorded
    outside it show up as MISSING_IN_PAYCORE. Each mismatch is also logged.
    """
    mismatches = reconcile(report, await recorded_attempts(channel, since, until))
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
