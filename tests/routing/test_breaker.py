"""The circuit breaker: closed -> open -> half-open -> closed (or open again). Time is passed in."""

from __future__ import annotations

from router.health import BreakerSettings, BreakerState, ChannelHealth

SETTINGS = BreakerSettings(
    window=10,
    min_samples=4,
    failure_rate_to_open=0.5,
    consecutive_failures_to_open=3,
    open_for_s=30,
)


def failing(health: ChannelHealth, times: int, now: float = 0.0) -> None:
    for _ in range(times):
        health.record(False, 0.1, now)


def test_consecutive_failures_open_the_circuit() -> None:
    health = ChannelHealth(SETTINGS)
    failing(health, 2)
    assert health.state(0) is BreakerState.CLOSED

    failing(health, 1)

    assert health.state(0) is BreakerState.OPEN
    assert not health.allows(0)
    assert not health.view(0).available


def test_a_failure_rate_over_the_window_opens_the_circuit() -> None:
    health = ChannelHealth(SETTINGS)
    for answered in (True, False, True, False):
        health.record(answered, 0.1, 0)

    assert health.state(0) is BreakerState.OPEN


def test_declines_and_successes_keep_the_circuit_closed() -> None:
    health = ChannelHealth(SETTINGS)
    for _ in range(10):
        health.record(True, 0.2, 0)

    view = health.view(0)
    assert health.state(0) is BreakerState.CLOSED
    assert (view.success_rate, view.samples, round(view.latency_ms)) == (1.0, 10, 200)


def test_an_open_circuit_half_opens_after_its_time_and_lets_one_probe_through() -> None:
    health = ChannelHealth(SETTINGS)
    failing(health, 3, now=100)

    assert health.state(129) is BreakerState.OPEN
    assert health.state(130) is BreakerState.HALF_OPEN
    assert health.allows(130)
    health.started(130)
    assert not health.allows(130)  # one probe at a time


def test_a_successful_probe_closes_the_circuit() -> None:
    health = ChannelHealth(SETTINGS)
    failing(health, 3, now=0)
    health.started(30)

    health.record(True, 0.1, 31)

    assert health.state(31) is BreakerState.CLOSED
    assert health.allows(31)
    assert health.view(31).samples == 1  # the failures before the outage are forgotten


def test_a_failed_probe_opens_the_circuit_again_for_a_full_period() -> None:
    health = ChannelHealth(SETTINGS)
    failing(health, 3, now=0)
    health.started(30)

    health.record(False, 0.1, 31)

    assert health.state(60) is BreakerState.OPEN
    assert health.state(61) is BreakerState.HALF_OPEN


def test_the_view_follows_every_call_recorded_after_it_was_taken() -> None:
    health = ChannelHealth(SETTINGS)
    assert (health.view(0).samples, health.view(0).success_rate) == (0, 1.0)
    health.record(True, 0.2, 0)
    health.record(True, 0.4, 0)
    first = health.view(0)
    assert (first.samples, first.success_rate, round(first.latency_ms)) == (2, 1.0, 300)

    health.record(False, 0.3, 0)

    second = health.view(0)
    assert (second.samples, round(second.success_rate, 3), round(second.latency_ms)) == (
        3,
        0.667,
        300,
    )
    assert second.available


def test_the_view_of_an_open_circuit_keeps_the_window_figures() -> None:
    health = ChannelHealth(SETTINGS)
    health.record(True, 0.1, 0)
    assert health.view(0).available
    failing(health, 3)

    view = health.view(0)

    assert not view.available
    assert (view.samples, view.success_rate) == (4, 0.25)
    assert health.view(30).available  # half-open: the probe may go
