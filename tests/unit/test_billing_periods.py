"""Billing periods: month ends, counts, proration (core/domain/billing_periods.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.domain.billing_periods import Interval, period_bounds, prorated, shift

JAN_31 = datetime(2027, 1, 31, 12, tzinfo=UTC)


def _day(at: datetime) -> str:
    return at.date().isoformat()


def test_a_month_after_january_31_is_the_last_day_of_february() -> None:
    assert _day(shift(JAN_31, Interval.MONTH, 1)) == "2027-02-28"
    assert _day(shift(JAN_31.replace(year=2028), Interval.MONTH, 1)) == "2028-02-29"


def test_periods_count_from_the_anchor_so_a_short_month_does_not_shorten_the_next() -> None:
    ends = [_day(period_bounds(JAN_31, Interval.MONTH, 1, n)[1]) for n in range(4)]
    assert ends == ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]


def test_a_yearly_price_anchored_on_february_29_renews_on_february_28() -> None:
    leap = datetime(2028, 2, 29, tzinfo=UTC)
    assert _day(shift(leap, Interval.YEAR, 1)) == "2029-02-28"
    assert _day(shift(leap, Interval.YEAR, 4)) == "2032-02-29"


def test_days_and_weeks_are_exact_durations_and_counts_multiply() -> None:
    assert period_bounds(JAN_31, Interval.WEEK, 2, 1) == (
        shift(JAN_31, Interval.DAY, 14),
        shift(JAN_31, Interval.DAY, 28),
    )
    assert _day(shift(JAN_31, Interval.MONTH, 13)) == "2028-02-29"


def test_period_bounds_refuse_a_zero_count_or_a_negative_period() -> None:
    with pytest.raises(ValueError):
        period_bounds(JAN_31, Interval.DAY, 0, 0)
    with pytest.raises(ValueError):
        period_bounds(JAN_31, Interval.DAY, 1, -1)


def test_proration_is_the_unused_share_rounded_half_up() -> None:
    start, end = datetime(2027, 4, 1, tzinfo=UTC), datetime(2027, 5, 1, tzinfo=UTC)  # 30 days
    assert prorated(3000, start, end, datetime(2027, 4, 16, tzinfo=UTC)) == 1500
    assert prorated(1000, start, end, datetime(2027, 4, 11, tzinfo=UTC)) == 667  # 666.67
    assert prorated(1000, start, end, start) == 1000
    assert prorated(1000, start, end, end) == 0
    assert prorated(1000, start, end, datetime(2027, 6, 1, tzinfo=UTC)) == 0
