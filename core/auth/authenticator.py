"""API key authentication: credentials in, a ``Caller`` out (no grpc, no driver imports).

Order of checks for every call, and why:

1. no key -> UNAUTHENTICATED (API_KEY_MISSING); not counted as a failure,
   since a missing header is a client bug, not a guess;
2. the key: from the in-process cache (``key_cache_s``) or PostgreSQL,
   compared by hash in constant time, and checked for revocation and expiry
   *at this call's time*. A key that verifies is accepted, whatever anybody
   else did before: the guess throttle is not consulted at all;
3. only a key that does not verify (unknown, malformed, wrong secret,
   revoked, expired) meets the guess throttle: the failure is counted per
   source address and per presented key prefix, and a source or prefix over
   its limit is answered RESOURCE_EXHAUSTED (AUTHENTICATION_LOCKED, with
   RetryInfo) instead of UNAUTHENTICATED;
4. the merchant the call acts for: the key's own, or for a platform
   (superadmin) key the one named in metadata.

Why the key comes before the throttle: a throttle consulted first refuses
valid keys too, so ten bad keys sent by anyone behind a shared NAT, proxy or
ingress would lock every merchant behind it out, and anyone who knows a key's
public prefix could lock its holder out. Checking the key first gives away
nothing: the secret carries 256 bits (core.auth.keys), so the throttle is not
what stops guessing; it tells a misbehaving client to back off (RetryInfo)
and gives a guesser one uniform answer. The extra Redis round trip is paid
only by failures, whose answer already says that they failed, so its timing
reveals nothing a caller does not already know.

Caching: a key verified here is trusted for ``key_cache_s`` (never beyond its
own expiry); revocations and rotations are broadcast to every process, which
drops the key at once (``forget``), and a process that lost that broadcast
drops everything when it hears it again (``forget_all``), so ``key_cache_s``
is only the bound while the broadcast is down.

Both stores fail in the safe direction: Redis away means no throttle (counted
nowhere, logged by the gate), PostgreSQL away means SERVICE_UNAVAILABLE
(never "allowed").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn, Protocol

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
    """The caller's address without its port (a throttle subject)."""


class KeyDirectory(Protocol):
    """Where keys are looked up (PostgreSQL)."""

    async def find_key(self, prefix: str) -> KeyLookup | None:
        """The key with this prefix, its hash and its merchant's flags; None if unknown."""
        ...


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """When failed authentications lock a source or key prefix, and for how long."""

    failures: int = 10
    window_s: float = 60.0
    lockout_s: float = 300.0


class GuessThrottle(Protocol):
    """Where failed authentications are counted (Redis, shared by every process)."""

    async def note_failure(self, source: str, prefix: str | None, policy: LockoutPolicy) -> int:
        """Count one failure of ``source`` and ``prefix``; the longer lock of the two in ms.

        0 when neither is locked. A subject already locked is not counted
        again: its lock runs its course instead of growing.
        """
        ...


class Authenticator:
    """Verifies API keys; one per server process."""

    def __init__(
        self,
        directory: KeyDirectory,
        throttle: GuessThrottle,
        *,
        policy: LockoutPolicy | None = None,
        cache_s: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._directory = directory
        self._throttle = throttle
        self._policy = policy or LockoutPolicy()
        self._cache_s = cache_s
        self._monotonic = monotonic
        self._clock = clock
        # key text -> (lookup, trusted until); keyed by the whole key, so a
        # wrong secret with a known prefix never hits the cache.
        self._cache: dict[str, tuple[KeyLookup, float]] = {}
        # Bumped by every forget: a lookup read from PostgreSQL before a
        # revocation was heard must not enter the cache after it.
        self._generation = 0

    def forget(self, prefix: str) -> None:
        """Drop a key from this process's cache (it was revoked or rotated somewhere)."""
        self._generation += 1
        for presented in [
            k for k, (lookup, _) in self._cache.items() if lookup.key.prefix == prefix
        ]:
            del self._cache[presented]

    def forget_all(self) -> None:
        """Drop every cached key (revocations may have been missed: the broadcast was down)."""
        self._generation += 1
        self._cache.clear()

    async def authenticate(self, credentials: Credentials) -> Caller:
        """The caller behind ``credentials``, or a PaycoreError saying why not."""
        presented = credentials.api_key
        if not presented:
            raise PaycoreError(Reason.API_KEY_MISSING)
        lookup = self._cached(presented) or await self._verify(presented)
        # Expiry (rotation) and revocation are judged at this call's time, not when cached.
        if lookup is None or not lookup.key.usable_at(self._clock()):
            await self._refuse(credentials.peer, key_prefix(presented))
        return self._caller(lookup, credentials.merchant_id)

    def _cached(self, presented: str) -> KeyLookup | None:
        cached = self._cache.get(presented)
        if cached is None or cached[1] <= self._monotonic():
            return None
        return cached[0]

    async def _verify(self, presented: str) -> KeyLookup | None:
        """The key ``presented`` names if its secret matches (cached then); None otherwise."""
        prefix = key_prefix(presented)
        if prefix is None:
            return None
        generation = self._generation
        lookup = await self._directory.find_key(prefix)
        if lookup is None or not hashes_match(presented, lookup.secret_hash):
            return None
        trusted_s = self._trust_s(lookup)
        if trusted_s > 0 and generation == self._generation:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()  # crude, but bounded; a miss costs one indexed read
            self._cache[presented] = (lookup, self._monotonic() + trusted_s)
        return lookup

    def _trust_s(self, lookup: KeyLookup) -> float:
        """How long to trust ``lookup`` without reading it again: never past its key's end."""
        key = lookup.key
        ends = [t for t in (key.expires_at, key.revoked_at) if t is not None]
        if not ends:
            return self._cache_s
        return min(self._cache_s, (min(ends) - self._clock()).total_seconds())

    async def _refuse(self, source: str, prefix: str | None) -> NoReturn:
        """Count a failed authentication and raise: locked when over the limit, else invalid."""
        locked_ms = await self._throttle.note_failure(source, prefix, self._policy)
        if locked_ms > 0:
            raise AuthenticationLockedError("address or key prefix", locked_ms)
        raise PaycoreError(Reason.API_KEY_INVALID)

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
