"""The retry schedule of webhook deliveries (pure).

A schedule is the list of delays between attempts: ``("1m", "5m", "1h")``
means attempt 1 at once, attempt 2 a minute after attempt 1 failed, attempt 3
five minutes after that, attempt 4 an hour later; if that fails too the
delivery is dead-lettered. The default (setting ``webhook_retry_schedule``,
core/config) spans about a day.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in ``"250ms"``, ``"30s"``, ``"5m"`` or ``"6h"``; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 6h)")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def parse_schedule(items: Sequence[str]) -> tuple[float, ...]:
    """The delays of a schedule in seconds; ValueError for an empty or malformed one."""
    if not items:
        raise ValueError("a retry schedule needs at least one delay")
    return tuple(parse_duration(item) for item in items)


def retry_delay(schedule: Sequence[float], round_attempt: int) -> float | None:
    """Seconds to wait after failed attempt ``round_attempt`` (1-based); None: dead-letter."""
    if round_attempt < 1:
        raise ValueError("attempts are numbered from 1")
    if round_attempt > len(schedule):
        return None
    return schedule[round_attempt - 1]
