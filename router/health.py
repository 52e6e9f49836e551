"""Per-channel health: a rolling window of call results and a circuit breaker. Pure.

Time is passed in (``now``, seconds on any monotonic clock), so the breaker's
open -> half-open -> closed cycle is tested without sleeping. ::

    CLOSED --(failure rate >= threshold over the window,
              or N consecutive failures)--> OPEN
    OPEN   --(open_for_s elapsed)--> HALF_OPEN   (lets `half_open_probes` calls through)
    HALF_OPEN --probe answered--> CLOSED (window cleared)
    HALF_OPEN --probe failed----> OPEN   (timer restarted)

A "failure" is a call the channel did not answer: refused connection,
explicit "not processed", timeout or ambiguous error. A decline is an
answer, so it counts as a success of the channel.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from router.routing import HealthView


class BreakerState(enum.Enum):
    """Circuit breaker states."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When a channel's circuit opens and how it probes its way back."""

    window: int = 20
    """Recent calls kept for the success rate and latency."""
    min_samples: int = 5
    """Calls needed in the window before the failure rate can open the circuit."""
    failure_rate_to_open: float = 0.5
    consecutive_failures_to_open: int = 5
    open_for_s: float = 30.0
    half_open_probes: int = 1


class ChannelHealth:
    """The health of one channel (one per channel per process)."""

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self._settings = settings or BreakerSettings()
        self._calls: deque[tuple[bool, float]] = deque(maxlen=self._settings.window)
        self._consecutive_failures = 0
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probes_out = 0
        # The window's figures as an available channel's view, made when routing first
        # asks after the window changed: every payment routed reads all channels' views.
        self._view: HealthView | None = None

    def state(self, now: float) -> BreakerState:
        """The breaker's state at ``now`` (an open circuit half-opens once its time is up)."""
        if self._state is BreakerState.OPEN and now - self._opened_at >= self._settings.open_for_s:
            self._state = BreakerState.HALF_OPEN
            self._probes_out = 0
        return self._state

    def allows(self, now: float) -> bool:
        """Whether a call may go to the channel now."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        return (
            state is BreakerState.HALF_OPEN and self._probes_out < self._settings.half_open_probes
        )

    def started(self, now: float) -> None:
        """A call is going out: in HALF_OPEN it is a probe, and takes a probe slot."""
        if self.state(now) is BreakerState.HALF_OPEN:
            self._probes_out += 1

    def record(self, answered: bool, latency_s: float, now: float) -> None:
        """The result of one call: ``answered`` False for refused, not processed, or unknown."""
        settings = self._settings
        state = self.state(now)
        if state is BreakerState.HALF_OPEN:
            self._probes_out = max(0, self._probes_out - 1)
            if answered:
                self._state = BreakerState.CLOSED
                self._calls.clear()
                self._consecutive_failures = 0
            else:
                self._open(now)
            self._append(answered, latency_s)
            return
        self._append(answered, latency_s)
        self._consecutive_failures = 0 if answered else self._consecutive_failures + 1
        if state is BreakerState.CLOSED and (
            self._consecutive_failures >= settings.consecutive_failures_to_open
            or (
                len(self._calls) >= settings.min_samples
                and self._failure_rate() >= settings.failure_rate_to_open
            )
        ):
            self._open(now)

    def _append(self, answered: bool, latency_s: float) -> None:
        self._calls.append((answered, latency_s))
        self._view = None

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._probes_out = 0

    def _failure_rate(self) -> float:
        return sum(1 for ok, _ in self._calls if not ok) / len(self._calls)

    def view(self, now: float) -> HealthView:
        """A snapshot for routing."""
        view = self._view
        if view is None:
            view = self._view = self._window_view()
        if self.allows(now):
            return view
        return HealthView(
            available=False,
            success_rate=view.success_rate,
            latency_ms=view.latency_ms,
            samples=view.samples,
        )

    def _window_view(self) -> HealthView:
        calls = list(self._calls)
        if not calls:
            return HealthView()
        return HealthView(
            success_rate=sum(1 for ok, _ in calls if ok) / len(calls),
            latency_ms=1000 * sum(latency for _, latency in calls) / len(calls),
            samples=len(calls),
        )
