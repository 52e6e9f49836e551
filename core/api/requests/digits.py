"""The shared check of the API's numeric text fields: ASCII digits 0-9, of a given length.

Card numbers, CVCs, BIN prefixes and the digit groups of dates all go
through here; see core/domain/digits.py for why nothing but ASCII passes.
"""

from __future__ import annotations

from datetime import date, timedelta

from core.domain.digits import first_foreign_digit, is_ascii_digits
from core.domain.errors import ViolationCollector

LAST_DAY = date.max - timedelta(days=1)
"""9999-12-30: the last day whose end (the next midnight) a datetime can hold."""


def digits(
    v: ViolationCollector,
    field: str,
    value: str,
    *,
    min_length: int,
    max_length: int,
    shape: str,
) -> bool:
    """Whether ``value`` is ``min_length`` to ``max_length`` ASCII digits; else a violation.

    ``shape`` says what is expected ("12 to 19 digits without spaces").
    """
    if is_ascii_digits(value, min_length, max_length):
        return True
    _refuse(v, field, value, shape)
    return False


def iso_day(v: ViolationCollector, field: str, value: str, shape: str) -> date | None:
    """``value`` as a day written exactly YYYY-MM-DD in ASCII digits, up to ``LAST_DAY``.

    Stricter than ``date.fromisoformat``, which also takes 20260105 and
    2026-W02-1 (one day must have one spelling: it is part of idempotency
    fingerprints and report names); a day after ``LAST_DAY`` has no end to
    settle up to (9999-12-31 was a server fault in the cut-off).
    """
    groups = value.split("-")
    if len(groups) == 3 and all(
        is_ascii_digits(group, size, size) for group, size in zip(groups, (4, 2, 2), strict=True)
    ):
        try:
            day = date(int(groups[0]), int(groups[1]), int(groups[2]))
        except ValueError:
            pass
        else:
            if day <= LAST_DAY:
                return day
            v.add(field, f"must be a day up to {LAST_DAY.isoformat()}")
            return None
    _refuse(v, field, value, shape)
    return None


def _refuse(v: ViolationCollector, field: str, value: str, shape: str) -> None:
    # A digit from another script is named by code point; the value itself is
    # not echoed (it may be a card number).
    foreign = first_foreign_digit(value)
    if foreign is not None:
        v.add(field, f"must be {shape}, written with ASCII 0-9 (U+{ord(foreign):04X} is not)")
    else:
        v.add(field, f"must be {shape}")
