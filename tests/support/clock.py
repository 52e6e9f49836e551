"""A clock tests control: real UTC time until a test sets it, then that time."""

from __future__ import annotations

from datetime import UTC, datetime


class TestClock:
    """Callable like ``datetime.now(UTC)``; ``set`` fixes the time it answers, ``reset`` unfixes.

    The test server's settlement reads it (``open_services(clock=...)``), so a
    test decides whether a business day is over without waiting for midnight.
    """

    __test__ = False  # not a test class, despite its name

    def __init__(self) -> None:
        self._fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self._fixed if self._fixed is not None else datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        """Answer ``moment`` (timezone-aware) from now on."""
        if moment.tzinfo is None:
            raise ValueError("a TestClock time must be timezone-aware")
        self._fixed = moment

    def reset(self) -> None:
        """Follow real time again."""
        self._fixed = None
