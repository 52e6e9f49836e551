"""The Authenticator without servers: in-memory key directory and guess throttle
(tests/support/memory.py)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.auth.authenticator import Authenticator, Credentials
from core.auth.keys import ApiKey, KeyLookup, generate_key
from core.auth.policy import Role
from core.domain.errors import AuthenticationLockedError, PaycoreError, Reason
from tests.support.memory import MemoryGuessThrottle, MemoryKeyDirectory

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW
        self.seconds = 0.0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.seconds += seconds


def _setup(
    throttle: MemoryGuessThrottle | None = None, cache_s: float = 60.0
) -> tuple[Authenticator, MemoryKeyDirectory, MemoryGuessThrottle, Clock, str, str]:
    directory, clock = MemoryKeyDirectory(), Clock()
    throttle = throttle or MemoryGuessThrottle()
    issued = generate_key()
    key = ApiKey(issued.prefix, "m_1", Role.MERCHANT, "test", NOW)
    directory.keys[issued.prefix] = KeyLookup(key, issued.secret_hash, False)
    authenticator = Authenticator(
        directory,
        throttle,
        cache_s=cache_s,
        monotonic=lambda: clock.seconds,
        clock=lambda: clock.now,
    )
    return authenticator, directory, throttle, clock, issued.prefix, issued.secret


def _as(secret: str, source: str = "10.0.0.1") -> Credentials:
    return Credentials(api_key=secret, merchant_id=None, peer=source)


def _reason(error: pytest.ExceptionInfo[PaycoreError]) -> Reason:
    return error.value.reason


async def test_a_valid_key_is_accepted_without_asking_the_throttle_even_when_locked() -> None:
    authenticator, _, throttle, _, _, secret = _setup(MemoryGuessThrottle(locked_after=0))

    caller = await authenticator.authenticate(_as(secret))

    assert caller.merchant_id == "m_1" and throttle.failures == []


async def test_a_failed_key_is_counted_per_source_and_prefix_and_locked_over_the_limit() -> None:
    authenticator, _, throttle, _, prefix, _ = _setup(MemoryGuessThrottle(locked_after=2))

    with pytest.raises(PaycoreError) as first:
        await authenticator.authenticate(_as(f"{prefix}_" + "x" * 43))
    with pytest.raises(AuthenticationLockedError) as second:
        await authenticator.authenticate(_as("not a key at all"))

    assert _reason(first) is Reason.API_KEY_INVALID
    assert second.value.retry_after_ms == 60_000
    assert throttle.failures == [("10.0.0.1", prefix), ("10.0.0.1", None)]


async def test_a_key_read_while_it_was_revoked_elsewhere_is_not_trusted_afterwards() -> None:
    authenticator, directory, _, _, prefix, secret = _setup()
    directory.hold = asyncio.Event()
    in_flight = asyncio.create_task(authenticator.authenticate(_as(secret)))
    await directory.reading.wait()
    lookup = directory.keys[prefix]  # the read has the key as it was before the revocation
    directory.keys[prefix] = replace(lookup, key=lookup.key.revoked(NOW))
    authenticator.forget(prefix)  # the broadcast arrives while the read is in flight
    directory.hold.set()
    directory.hold = None

    await in_flight  # that call raced the revocation and may pass...
    with pytest.raises(PaycoreError) as after:  # ...but nothing after it
        await authenticator.authenticate(_as(secret))

    assert _reason(after) is Reason.API_KEY_INVALID


async def test_a_key_is_never_trusted_from_the_cache_past_its_own_expiry() -> None:
    authenticator, directory, _, clock, prefix, secret = _setup(cache_s=60.0)
    lookup = directory.keys[prefix]
    directory.keys[prefix] = replace(
        lookup, key=replace(lookup.key, expires_at=NOW + timedelta(seconds=2))
    )
    await authenticator.authenticate(_as(secret))
    reads = directory.reads

    clock.advance(1)
    await authenticator.authenticate(_as(secret))  # cached: inside the overlap
    clock.advance(2)
    with pytest.raises(PaycoreError) as expired:
        await authenticator.authenticate(_as(secret))

    assert _reason(expired) is Reason.API_KEY_INVALID
    assert directory.reads == reads + 1  # the expired entry had left the cache


async def test_forgetting_everything_makes_every_key_be_read_again() -> None:
    authenticator, directory, _, _, _, secret = _setup()
    await authenticator.authenticate(_as(secret))
    await authenticator.authenticate(_as(secret))
    reads = directory.reads

    authenticator.forget_all()
    await authenticator.authenticate(_as(secret))

    assert (reads, directory.reads) == (1, 2)
