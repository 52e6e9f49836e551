"""When a failed call is repeated, and how long the client waits before it does.

Every call this client makes may be repeated safely: reads change nothing, and
each write carries a ``request_id`` that is fixed before the first attempt and
sent again on every retry, so paycore executes it at most once and answers a
repeat with the first outcome. What is retried is therefore decided by the
error alone:

- UNAVAILABLE: paycore or one of its dependencies could not be reached.
- DEADLINE_EXCEEDED: the outcome is unknown; the repeat either finds it (same
  request_id) or runs the request for the first time.
- ABORTED with reason REQUEST_IN_PROGRESS or PAYMENT_OPERATION_IN_PROGRESS: a
  concurrent request holds the payment; the repeat waits for it.

Anything else (INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND,
UNAUTHENTICATED, ...) would fail the same way again and is raised at once.
The decisions here are pure functions; the clients only sleep and call.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from ._errors import PaycoreError, from_rpc_error

_ALWAYS_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
_RETRYABLE_ABORTED_REASONS = frozenset({"REQUEST_IN_PROGRESS", "PAYMENT_OPERATION_IN_PROGRESS"})
# Over the rate limit: the server's RetryInfo says exactly when to come back.
_RETRYABLE_EXHAUSTED_REASONS = frozenset({"RATE_LIMITED"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a client repeats a call that may succeed later.

    The wait before attempt n + 1 is drawn uniformly from 0 to
    ``min(max_backoff, initial_backoff * multiplier ** (n - 1))`` ("full
    jitter", so clients that failed together do not retry together), and is at
    least the server's RetryInfo delay when it sent one.
    """

    max_attempts: int = 4
    """Attempts per call, the first included; 1 turns retries off."""
    initial_backoff: float = 0.1
    """Upper bound of the first wait, in seconds."""
    max_backoff: float = 2.0
    """Upper bound of any wait, in seconds (a server's RetryInfo may ask for more)."""
    multiplier: float = 2.0
    """Growth of the upper bound from one wait to the next."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoffs must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")

    def delay_before_retry(
        self,
        attempt: int,
        error: PaycoreError,
        rng: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (1-based), or None to give up.

        ``rng`` returns a float in [0, 1); tests pass a fixed one.
        """
        if attempt >= self.max_attempts or not is_retryable(error):
            return None
        # Grown step by step rather than with ``**`` so a large attempt number
        # cannot overflow a float.
        ceiling = min(self.initial_backoff, self.max_backoff)
        for _ in range(attempt - 1):
            ceiling = min(ceiling * self.multiplier, self.max_backoff)
        return max(ceiling * rng(), error.retry_after or 0.0)


DEFAULT_RETRY_POLICY = RetryPolicy()
"""The clients' default: 4 attempts, waits of at most 0.1, 0.2 and 0.4 seconds."""


def is_retryable(error: PaycoreError) -> bool:
    """Whether repeating the same request (same request_id) may succeed."""
    if error.code in _ALWAYS_RETRYABLE:
        return True
    if error.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return error.reason in _RETRYABLE_EXHAUSTED_REASONS
    return error.code == grpc.StatusCode.ABORTED and error.reason in _RETRYABLE_ABORTED_REASONS


class Backoff:
    """The retry schedule of one logical call, shared by the sync and async clients.

    Used inside ``except grpc.RpcError``: ``after_failure`` either returns how
    long to sleep before the next attempt, or raises the typed error.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._attempt = 0

    def after_failure(self, exc: grpc.RpcError) -> float:
        """Seconds to wait before the next attempt; raises the PaycoreError when there is none."""
        self._attempt += 1
        error = from_rpc_error(exc)
        delay = self._policy.delay_before_retry(self._attempt, error)
        if delay is None:
            raise error from exc
        return delay
