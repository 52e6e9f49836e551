"""The wall clock behind paycore's time-based decisions, as one process-wide seam.

Request records expire after ``idempotency_ttl_s`` and unresolved channel
attempts are queried a while after they were recorded: both compare times the
request executor stamped with times the status-query scheduler reads, so both
read this one clock by default (``now``). A test that must see a day pass in a
running ``paycore run`` (tests/faults/clocked.py) installs another clock with
``use`` before the server starts; production never does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""A source of timezone-aware UTC datetimes."""


def system_clock() -> datetime:
    """The operating system's UTC time."""
    return datetime.now(UTC)


_current: Clock = system_clock


def now() -> datetime:
    """The time by the installed clock (the system's unless a test installed another)."""
    return _current()


def use(clock: Clock) -> None:
    """Install ``clock`` for this process (and the workers it forks afterwards)."""
    global _current  # noqa: PLW0603 - the one seam; see the module docstring
    _current = clock
