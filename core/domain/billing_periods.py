"""Billing periods: where a price's interval takes a date (pure).

A subscription's periods are counted from one anchor (its start, or the end of
its trial): period ``n`` runs from ``shift(anchor, interval, n * count)`` to
``shift(anchor, interval, (n + 1) * count)``. Every boundary is computed from
the anchor, never from the previous boundary, so a short month does not
shorten the months after it.

Month ends: adding months keeps the anchor's day of the month when the target
month has it and otherwise takes the target month's last day. A subscription
anchored on January 31 renews on February 28 (29 in a leap year), then on
March 31, April 30, May 31...; one anchored on February 29 renews on March 29,
and yearly on February 28 in years without a February 29. Days and weeks are
exact durations; months and years are calendar months in UTC (the time of
day is kept).
"""

from __future__ import annotations

import calendar
import enum
from datetime import UTC, datetime, timedelta

LATEST = datetime(9000, 1, 1, tzinfo=UTC)
"""Billing times (a start, a test clock) come before this: periods of up to 365
years counted from it still fit in a datetime (year 9999), so no boundary overflows."""


class Interval(enum.Enum):
    """The unit of a price's billing interval."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


def _add_months(at: datetime, months: int) -> datetime:
    index = at.year * 12 + (at.month - 1) + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return at.replace(year=year, month=month + 1, day=min(at.day, last_day))


def shift(anchor: datetime, interval: Interval, units: int) -> datetime:
    """``anchor`` moved by ``units`` intervals (month ends as the module docstring says)."""
    if interval is Interval.DAY:
        return anchor + timedelta(days=units)
    if interval is Interval.WEEK:
        return anchor + timedelta(weeks=units)
    if interval is Interval.MONTH:
        return _add_months(anchor, units)
    return _add_months(anchor, 12 * units)


def period_bounds(
    anchor: datetime, interval: Interval, count: int, index: int
) -> tuple[datetime, datetime]:
    """Start and end of period ``index`` (0-based) of an ``count``-``interval`` schedule."""
    if count < 1 or index < 0:
        raise ValueError("interval counts start at 1 and periods at 0")
    return shift(anchor, interval, index * count), shift(anchor, interval, (index + 1) * count)


def prorated(amount: int, period_start: datetime, period_end: datetime, at: datetime) -> int:
    """The part of ``amount`` (minor units) the time from ``at`` to ``period_end`` is worth.

    The share is the unused time over the whole period, to the second, rounded
    half up to a minor unit: ``at`` at or before the start is the whole
    amount, at or after the end nothing.
    """
    whole = (period_end - period_start).total_seconds()
    unused = min(max((period_end - at).total_seconds(), 0.0), whole)
    if whole <= 0:
        return 0
    # Integer arithmetic on whole seconds: no float rounding in money.
    numerator = amount * int(unused)
    denominator = int(whole)
    return (2 * numerator + denominator) // (2 * denominator)
