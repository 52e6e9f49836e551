"""The retry decisions, as pure functions: what is retried and how long the client waits."""

from __future__ import annotations

import grpc
import pytest

from paycore.client import PaycoreError, RetryPolicy, is_retryable

ALWAYS_HIGHEST = 0.999999
"""An rng at the top of full jitter's range, so the wait is its upper bound."""


def error(
    code: grpc.StatusCode, reason: str = "", retry_after: float | None = None
) -> PaycoreError:
    return PaycoreError(code, "test", reason=reason, retry_after=retry_after)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE"),
        (grpc.StatusCode.UNAVAILABLE, ""),
        (grpc.StatusCode.DEADLINE_EXCEEDED, ""),
        (grpc.StatusCode.ABORTED, "REQUEST_IN_PROGRESS"),
        (grpc.StatusCode.ABORTED, "PAYMENT_OPERATION_IN_PROGRESS"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED"),
    ],
)
def test_transient_failures_are_retryable(code: grpc.StatusCode, reason: str) -> None:
    assert is_retryable(error(code, reason))


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (grpc.StatusCode.ABORTED, ""),
        (grpc.StatusCode.INVALID_ARGUMENT, "IDEMPOTENCY_KEY_REUSED"),
        (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURABLE"),
        (grpc.StatusCode.NOT_FOUND, "PAYMENT_NOT_FOUND"),
        (grpc.StatusCode.UNAUTHENTICATED, "API_KEY_INVALID"),
        (grpc.StatusCode.INTERNAL, "INTERNAL_ERROR"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "MESSAGE_TOO_LARGE"),
    ],
)
def test_failures_that_would_repeat_are_not_retryable(code: grpc.StatusCode, reason: str) -> None:
    assert not is_retryable(error(code, reason))


def test_the_wait_bound_grows_by_the_multiplier_up_to_max_backoff() -> None:
    policy = RetryPolicy(max_attempts=10, initial_backoff=0.1, max_backoff=1.0, multiplier=3.0)
    unavailable = error(grpc.StatusCode.UNAVAILABLE)

    waits = [
        policy.delay_before_retry(attempt, unavailable, rng=lambda: ALWAYS_HIGHEST)
        for attempt in range(1, 6)
    ]

    assert waits == pytest.approx([0.1, 0.3, 0.9, 1.0, 1.0], rel=1e-5)


def test_full_jitter_can_wait_nothing_at_all() -> None:
    delay = RetryPolicy().delay_before_retry(3, error(grpc.StatusCode.UNAVAILABLE), rng=lambda: 0.0)

    assert delay == 0.0


def test_the_servers_retry_delay_wins_when_it_is_longer() -> None:
    policy = RetryPolicy(initial_backoff=0.1)
    in_progress = error(grpc.StatusCode.ABORTED, "REQUEST_IN_PROGRESS", retry_after=0.5)

    assert policy.delay_before_retry(1, in_progress, rng=lambda: ALWAYS_HIGHEST) == 0.5


def test_the_backoff_wins_when_it_is_longer_than_the_servers_delay() -> None:
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=1.0)
    in_progress = error(grpc.StatusCode.ABORTED, "REQUEST_IN_PROGRESS", retry_after=0.5)

    delay = policy.delay_before_retry(1, in_progress, rng=lambda: ALWAYS_HIGHEST)

    assert delay == pytest.approx(1.0, rel=1e-5)


def test_no_retry_after_the_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)
    unavailable = error(grpc.StatusCode.UNAVAILABLE)

    assert policy.delay_before_retry(2, unavailable) is not None
    assert policy.delay_before_retry(3, unavailable) is None


def test_a_huge_attempt_number_does_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=100_000)

    delay = policy.delay_before_retry(
        99_999, error(grpc.StatusCode.UNAVAILABLE), rng=lambda: ALWAYS_HIGHEST
    )

    assert delay == pytest.approx(policy.max_backoff, rel=1e-5)


def test_the_default_policy_matches_the_documented_one() -> None:
    assert RetryPolicy() == RetryPolicy(
        max_attempts=4, initial_backoff=0.1, max_backoff=2.0, multiplier=2.0
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"max_attempts": 0},
        {"initial_backoff": -0.1},
        {"max_backoff": -1.0},
        {"multiplier": 0.5},
    ],
)
def test_a_nonsensical_policy_is_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**settings)  # type: ignore[arg-type]
