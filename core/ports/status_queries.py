"""What the status-query scheduler and the callback ingress need from their store.

Unresolved channel attempts are leased in batches (``StatusQueryStore.lease_due``) and
settled each in a transaction that locks the attempt first (``AttemptSettlement``):
PostgreSQL implements both (core/storage/status_queries.py).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.domain.attempt import Attempt
from core.ports.repository import PaymentTransaction


@dataclass(frozen=True, slots=True)
class DueAttempt:
    """An unresolved attempt leased to this worker, and how many queries it already had."""

    attempt: Attempt
    outcome: str
    """'started', 'unknown' or 'pending' (each has its own schedule)."""
    query_count: int


@dataclass(frozen=True, slots=True)
class FoundAttempt:
    """An attempt looked up by id, as recorded."""

    attempt: Attempt
    outcome: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LeaseTerms:
    """Which attempts are due and for how long a worker holds them."""

    first_delay_s: float
    pending_first_delay_s: float
    started_grace_s: float
    lease_s: float
    batch_size: int
    channels: tuple[str, ...]
    """Only attempts on these channels (the ones this worker has adapters for)."""


class AttemptSettlement(PaymentTransaction, Protocol):
    """A payment transaction that can also lock and reschedule channel attempts."""

    async def lock_unresolved_attempt(self, merchant_id: str, attempt_id: str) -> bool:
        """Lock the attempt's row; True when it is still unresolved (and not given up on)."""
        ...

    async def reschedule_attempt(
        self, merchant_id: str, attempt_id: str, next_query: datetime | None
    ) -> None:
        """Count a query that could not tell; ``next_query`` None marks it for manual attention."""
        ...


class StatusQueryStore(Protocol):
    """Unresolved channel attempts: leased for status queries, found by id, settled."""

    async def lease_due(self, now: datetime, terms: LeaseTerms) -> list[DueAttempt]:
        """Lease up to ``terms.batch_size`` due attempts to this worker."""
        ...

    async def find_attempt(self, channel: str, attempt_id: str) -> FoundAttempt | None:
        """The attempt ``attempt_id`` on ``channel``, with its recorded outcome and age."""
        ...

    def settlement(self) -> AbstractAsyncContextManager[AttemptSettlement]:
        """A transaction to settle one attempt (commits on normal exit)."""
        ...
