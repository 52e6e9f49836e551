"""Rate limits and the GCRA arithmetic behind them. Pure: no I/O, no clock of its own.

GCRA (the generic cell rate algorithm) keeps one number per limited key: the
theoretical arrival time (TAT) of the next request if requests came exactly at
the limit. A request at ``now`` is allowed when ``TAT - now <= tolerance``,
and then pushes TAT forward by one emission interval. It is a token bucket
without a refill loop: exact, O(1), and one value to store. The Redis script
in ``core/redis/request_gate.py`` runs the same arithmetic atomically in Redis;
``LocalLimiter`` runs it in-process when Redis is unreachable.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

MICROS = 1_000_000


class RpcClass(enum.Enum):
    """Which budget an RPC spends."""

    WRITES = "writes"
    READS = "reads"


class RateLimitConfig(Protocol):
    """The configured limits the gate reads: per RPC class, with per-merchant overrides.

    ``core.config.RateLimitSettings`` is one; the gate takes any value of this
    shape, so it does not import the configuration (bootstrap) it is wired by.
    """

    @property
    def writes_per_s(self) -> float:
        """Mutating RPCs per second (average)."""
        ...

    @property
    def writes_burst(self) -> int:
        """Mutating RPCs admitted at once."""
        ...

    @property
    def reads_per_s(self) -> float:
        """Reads per second (average)."""
        ...

    @property
    def reads_burst(self) -> int:
        """Reads admitted at once."""
        ...

    def for_merchant(self, merchant_id: str) -> RateLimitConfig:
        """The limits of one merchant: the defaults with its overrides applied."""
        ...


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate_per_s`` requests per second on average, ``burst`` of them at once."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0:
            raise ValueError("rate_per_s must be positive")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")

    @property
    def interval_us(self) -> int:
        """Microseconds between requests at exactly the limit (the emission interval)."""
        return max(1, round(MICROS / self.rate_per_s))

    @property
    def tolerance_us(self) -> int:
        """How far ahead of ``now`` the TAT may run: room for ``burst`` requests at once."""
        return (self.burst - 1) * self.interval_us


@dataclass(frozen=True, slots=True)
class Verdict:
    """A GCRA decision: allowed (with the new TAT), or refused with a retry delay."""

    allowed: bool
    tat_us: int
    retry_after_us: int = 0


def gcra(limit: RateLimit, stored_tat_us: int | None, now_us: int) -> Verdict:
    """Decide one request at ``now_us`` given the stored TAT (None: never seen)."""
    tat = now_us if stored_tat_us is None or stored_tat_us < now_us else stored_tat_us
    ahead = tat - now_us
    if ahead > limit.tolerance_us:
        return Verdict(False, tat, retry_after_us=ahead - limit.tolerance_us)
    return Verdict(True, tat + limit.interval_us)


class LocalLimiter:
    """In-process GCRA, the fail-open fallback while Redis is unreachable.

    Each process enforces the full limit on its own, so with N processes a
    merchant may get up to N times its limit during an outage: a deliberate
    trade, since refusing all traffic because the limiter's store is down
    would turn a cache outage into a payment outage.
    """

    def __init__(self, clock_us: Callable[[], int], max_keys: int = 100_000) -> None:
        self._clock_us = clock_us
        self._tats: dict[tuple[str, RpcClass], int] = {}
        self._max_keys = max_keys

    def check(self, merchant_id: str, rpc_class: RpcClass, limit: RateLimit) -> Verdict:
        """Decide one request now, and remember it if allowed."""
        key = (merchant_id, rpc_class)
        now = self._clock_us()
        verdict = gcra(limit, self._tats.get(key), now)
        if verdict.allowed:
            if key not in self._tats and len(self._tats) >= self._max_keys:
                self._make_room(now)
            self._tats[key] = verdict.tat_us
        return verdict

    def _make_room(self, now: int) -> None:
        # Keys whose TAT is past are indistinguishable from never-seen keys:
        # forget them first. If that is not enough, forget the oldest half
        # (insertion order), which errs towards allowing: this limiter is the
        # fail-open fallback, and a bound on memory matters more than
        # exactness for a few merchants. Halving keeps this O(1) amortized.
        self._tats = {k: t for k, t in self._tats.items() if t > now}
        if len(self._tats) >= self._max_keys:
            keep = list(self._tats.items())[len(self._tats) // 2 :]
            self._tats = dict(keep)
