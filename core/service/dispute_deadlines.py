"""The disputes' background job: evidence due dates, and evidence a channel did not take.

Every server process runs one (core/app/_disputes.py). Its rounds close the
disputes whose evidence due date passed unanswered (``DisputeService.expire_overdue``:
one transaction per dispute, locked SKIP LOCKED, so workers never take the same one)
and send again the evidence a channel did not take (``resend_evidence``: at least
once, the channel knows evidence by its dispute id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain import clock as wall_clock
from core.service.disputes import DisputeService
from core.service.status_query import poll_rounds


@dataclass(frozen=True, slots=True)
class DeadlineSettings:
    """How often the evidence due date job looks for overdue disputes."""

    poll_interval_s: float = 60.0
    batch_size: int = 50
    resend_after_s: float = 60.0
    """How long after it was stored evidence the channel did not take is sent again."""


class DisputeDeadlines:
    """The job that closes disputes whose evidence due date passed unanswered."""

    def __init__(
        self,
        service: DisputeService,
        settings: DeadlineSettings,
        clock: Callable[[], datetime] = wall_clock.now,
    ) -> None:
        self._service = service
        self._settings = settings
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; a failed round is logged and retried next round."""
        settings = self._settings
        await poll_rounds(
            stop, self.run_once, settings.batch_size, settings.poll_interval_s, "dispute deadline"
        )

    async def run_once(self) -> int:
        """One round: close overdue disputes, send again evidence a channel did not take
        (``resend_after_s`` after it was stored); returns how many of each, together."""
        now, batch = self._clock(), self._settings.batch_size
        closed = await self._service.expire_overdue(now, batch)
        resent_before = now - timedelta(seconds=self._settings.resend_after_s)
        return closed + await self._service.resend_evidence(resent_before, batch)
