"""GCRA arithmetic and the in-process limiter (core/gate/limits.py): pure, on a fake clock."""

from __future__ import annotations

import math

import pytest

from core.gate.limits import LocalLimiter, RateLimit, RpcClass, Verdict, gcra

TEN_PER_S = RateLimit(rate_per_s=10, burst=3)  # one request per 100 ms, 3 at once
INTERVAL = 100_000  # µs


class Clock:
    """Microseconds, moved by hand."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


def run(limit: RateLimit, times_us: list[int]) -> list[Verdict]:
    """Decide requests at ``times_us`` in order, keeping the TAT as the store would."""
    tat: int | None = None
    verdicts = []
    for now in times_us:
        verdict = gcra(limit, tat, now)
        if verdict.allowed:
            tat = verdict.tat_us
        verdicts.append(verdict)
    return verdicts


# --- RateLimit ----------------------------------------------------------------


def test_the_interval_and_tolerance_follow_from_rate_and_burst() -> None:
    assert TEN_PER_S.interval_us == INTERVAL
    assert TEN_PER_S.tolerance_us == 2 * INTERVAL
    assert RateLimit(rate_per_s=3, burst=1).interval_us == 333_333
    assert RateLimit(rate_per_s=3, burst=1).tolerance_us == 0
    assert RateLimit(rate_per_s=1e9, burst=1).interval_us == 1  # never zero


@pytest.mark.parametrize("rate", [0, -1, math.nan])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        RateLimit(rate_per_s=rate, burst=1)


@pytest.mark.parametrize("burst", [0, -5])
def test_a_burst_must_be_at_least_one(burst: int) -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimit(rate_per_s=1, burst=burst)


# --- gcra() -------------------------------------------------------------------


def test_a_burst_is_allowed_at_once_and_the_next_request_refused() -> None:
    verdicts = run(TEN_PER_S, [0, 0, 0, 0])

    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[3].retry_after_us == INTERVAL


def test_after_the_burst_requests_are_spaced_exactly_by_the_interval() -> None:
    # A caller retrying every microsecond is let through once per interval, to the µs.
    limit = RateLimit(rate_per_s=10_000, burst=2)  # 100 µs
    verdicts = run(limit, list(range(1001)))

    allowed_at = [now for now, verdict in enumerate(verdicts) if verdict.allowed]
    assert allowed_at == [0, 1, *range(100, 1001, 100)]


def test_retry_after_is_exact_to_the_microsecond() -> None:
    verdicts = run(TEN_PER_S, [0, 0, 0, 30_000])
    retry = verdicts[3].retry_after_us
    assert retry == INTERVAL - 30_000

    tat = verdicts[2].tat_us
    assert not gcra(TEN_PER_S, tat, 30_000 + retry - 1).allowed
    assert gcra(TEN_PER_S, tat, 30_000 + retry - 1).retry_after_us == 1
    assert gcra(TEN_PER_S, tat, 30_000 + retry).allowed


def test_an_idle_key_gets_its_whole_burst_back() -> None:
    verdicts = run(TEN_PER_S, [0, 0, 0, 10_000_000, 10_000_000, 10_000_000, 10_000_000])

    assert [v.allowed for v in verdicts] == [True, True, True, True, True, True, False]


def test_a_refusal_does_not_move_the_tat() -> None:
    first = run(TEN_PER_S, [0, 0, 0])[-1].tat_us

    refused = gcra(TEN_PER_S, first, 0)

    assert not refused.allowed
    assert refused.tat_us == first


def test_over_ten_seconds_a_saturating_caller_gets_burst_plus_rate_times_ten() -> None:
    limit = RateLimit(rate_per_s=50, burst=5)
    verdicts = run(limit, list(range(0, 10_000_001, 1_000)))  # a request every ms for 10 s

    assert sum(v.allowed for v in verdicts) == 5 + 50 * 10


# --- LocalLimiter -------------------------------------------------------------


def test_the_local_limiter_keeps_merchants_and_classes_apart() -> None:
    limiter = LocalLimiter(Clock())
    one_at_a_time = RateLimit(rate_per_s=1, burst=1)

    assert limiter.check("acme", RpcClass.WRITES, one_at_a_time).allowed
    assert not limiter.check("acme", RpcClass.WRITES, one_at_a_time).allowed
    assert limiter.check("acme", RpcClass.READS, one_at_a_time).allowed
    assert limiter.check("globex", RpcClass.WRITES, one_at_a_time).allowed


def test_the_local_limiter_runs_gcra_on_its_clock() -> None:
    clock = Clock()
    limiter = LocalLimiter(clock)

    assert [limiter.check("acme", RpcClass.WRITES, TEN_PER_S).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert limiter.check("acme", RpcClass.WRITES, TEN_PER_S).retry_after_us == INTERVAL
    clock.now = INTERVAL
    assert limiter.check("acme", RpcClass.WRITES, TEN_PER_S).allowed


def test_the_local_limiter_forgets_idle_keys_when_full() -> None:
    clock = Clock()
    limiter = LocalLimiter(clock, max_keys=3)
    for merchant in ("a", "b", "c"):
        limiter.check(merchant, RpcClass.WRITES, TEN_PER_S)

    clock.now = 10 * INTERVAL  # every TAT is in the past
    limiter.check("d", RpcClass.WRITES, TEN_PER_S)

    assert len(limiter._tats) == 1


def test_the_local_limiter_never_holds_more_than_max_keys() -> None:
    limiter = LocalLimiter(Clock(), max_keys=3)

    for merchant in "abcdefgh":
        assert limiter.check(merchant, RpcClass.WRITES, TEN_PER_S).allowed

    assert len(limiter._tats) <= 3
