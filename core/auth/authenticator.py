"""API key authentication: credentials in, a ``Caller`` out (no grpc, no driver imports).

Order of checks for every call, and why:

1. no key -> UNAUTHENTICATED (API_KEY_MISSING); not counted as a failure,
   since a missing header is a client bug, not a guess;
2. lockout: a peer address or key prefix with too many recent failures is
   refused before its key is even looked at, so guessing cannot go on while
   the lock holds (RESOURCE_EXHAUSTED, AUTHENTICATION_LOCKED, RetryInfo);
   keys this process verified within ``key_cache_s`` are not looked at again;
3. the key: from the in-process cache (``key_cache_s``) or PostgreSQL,
   compared by hash in constant time, and checked for revocation and expiry
   *at this call's time*; a failure here is counted toward the lockout;
4. the merchant the call acts for: the key's own, or for a platform
   (superadmin) key the one named in metadata.

A key verified by this process in the last ``key_cache_s`` skips steps 2-3's
round trips, so the hot path stays at one Redis round trip (the gate's).
Both stores fail in the safe direction: Redis away means no lockout (counted
nowhere, logged by the gate), PostgreSQL away means SERVICE_UNAVAILABLE
(never "allowed").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from core.auth.caller import Caller
from core.auth.keys import MERCHANT_ID_SHAPE, KeyLookup, hashes_match, key_prefix
from core.auth.policy import Role
from core.domain.errors import AuthenticationLockedError, PaycoreError, Reason

MERCHANT_HEADER = "x-paycore-merchant-id"

_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a call presents: its key, the merchant it names, and where it comes from."""

    api_key: str | None
    merchant_id: str | None
    """The ``x-paycore-merchant-id`` metadata, if any (a superadmin key's "act for")."""
    peer: str
    """The caller's address without its port (lockout subject)."""


class KeyDirectory(Protocol):
    """Where keys are looked up (PostgreSQL)."""

    async def find_key(self, prefix: str) -> KeyLookup | None:
        """The key with this prefix, its hash and its merchant's flags; None if unknown."""
        ...


class LockoutCounter(Protocol):
    """Where failed authentications are counted (Redis, shared by every process)."""

    async def auth_lock_ms(self, peer: str, prefix: str | None) -> int:
        """Remaining lock of the peer or prefix in ms (0: not locked)."""
        ...

    async def note_auth_failure(
        self, peer: str, prefix: str | None, *, threshold: int, window_s: float, lockout_s: float
    ) -> int:
        """Count one failure; the lock in ms when this failure starts one, else 0."""
        ...


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """When failures lock a subject out, and for how long."""

    failures: int = 10
    window_s: float = 60.0
    lockout_s: float = 300.0


class Authenticator:
    """Verifies API keys; one per server process."""

    def __init__(
        self,
        directory: KeyDirectory,
        lockout: LockoutCounter,
        *,
        policy: LockoutPolicy | None = None,
        cache_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._directory = directory
        self._lockout = lockout
        self._policy = policy or LockoutPolicy()
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._clock = clock
        # key text -> (lookup, trusted until); keyed by the whole key, so a
        # wrong secret with a known prefix never hits the cache.
        self._cache: dict[str, tuple[KeyLookup, float]] = {}

    def forget(self, prefix: str) -> None:
        """Drop a key from this process's cache (after revoking or rotating it here)."""
        for presented in [
            k for k, (lookup, _) in self._cache.items() if lookup.key.prefix == prefix
        ]:
            del self._cache[presented]

    async def authenticate(self, credentials: Credentials) -> Caller:
        """The caller behind ``credentials``, or a PaycoreError saying why not."""
        presented = credentials.api_key
        if not presented:
            raise PaycoreError(Reason.API_KEY_MISSING)
        lookup = self._cached(presented)
        if lookup is None:
            lookup = await self._verify(presented, credentials.peer)
        # Expiry (rotation) and revocation are judged at this call's time, not when cached.
        if not lookup.key.usable_at(self._clock()):
            await self._failed(credentials.peer, lookup.key.prefix)
            raise PaycoreError(Reason.API_KEY_INVALID)
        return self._caller(lookup, credentials.merchant_id)

    def _cached(self, presented: str) -> KeyLookup | None:
        cached = self._cache.get(presented)
        if cached is None or cached[1] <= self._monotonic():
            return None
        return cached[0]

    async def _verify(self, presented: str, peer: str) -> KeyLookup:
        # Only keys that must be verified pay the lock check: a guess is never
        # in the cache (it is keyed by the whole key, and only verified keys
        # enter it), so every guess meets the lock, while a key verified in
        # the last key_cache_s costs no Redis round trip at all.
        prefix = key_prefix(presented)
        locked_ms = await self._lockout.auth_lock_ms(peer, prefix)
        if locked_ms > 0:
            raise AuthenticationLockedError("peer or key prefix", locked_ms)
        lookup = await self._directory.find_key(prefix) if prefix is not None else None
        if lookup is None or not hashes_match(presented, lookup.secret_hash):
            await self._failed(peer, prefix)
            raise PaycoreError(Reason.API_KEY_INVALID)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()  # crude, but bounded; a miss costs one indexed read
        self._cache[presented] = (lookup, self._monotonic() + self._cache_s)
        return lookup

    async def _failed(self, peer: str, prefix: str | None) -> None:
        policy = self._policy
        locked_ms = await self._lockout.note_auth_failure(
            peer,
            prefix,
            threshold=policy.failures,
            window_s=policy.window_s,
            lockout_s=policy.lockout_s,
        )
        if locked_ms > 0:
            raise AuthenticationLockedError("peer or key prefix", locked_ms)

    @staticmethod
    def _caller(lookup: KeyLookup, named: str | None) -> Caller:
        key = lookup.key
        if named is not None and not MERCHANT_ID_SHAPE.fullmatch(named):
            raise PaycoreError(Reason.MERCHANT_IDENTITY_MISSING, header=MERCHANT_HEADER)
        if key.role is Role.SUPERADMIN:
            # A platform key acts for the merchant it names; "" when it names
            # none, which only platform RPCs accept (see core.auth.policy).
            # Raw card data stays off: operators tokenize like everyone else.
            return Caller(merchant_id=named or "", role=key.role, key_id=key.prefix)
        assert key.merchant_id is not None
        if named is not None and named != key.merchant_id:
            raise PaycoreError(
                Reason.MERCHANT_MISMATCH, key_merchant=key.merchant_id, merchant_id=named
            )
        return Caller(
            merchant_id=key.merchant_id,
            role=key.role,
            key_id=key.prefix,
            raw_card_data_allowed=lookup.raw_card_data_allowed,
            key_merchant_id=key.merchant_id,
        )
