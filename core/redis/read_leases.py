"""Read budgets leased from Redis: a few reads admitted per round trip instead of one.

A read (GetPayment, ListPayments...) needs no idempotency marker, only the
merchant's rate limit. Asking Redis for every read cost a round trip per read
(a quarter of a GetPayment). Instead each process *leases* a small number of
the merchant's read tokens from the shared GCRA in one script call
(``LEASE_SCRIPT``) and spends them locally; when its pool is empty, it leases
again.

What the limit still means:

- Redis decides every token, on its own clock, from the one GCRA state all
  processes share: leasing ``k`` tokens is exactly ``k`` admissions at the
  moment of the lease (a lease is granted in part when fewer are left).
- Over-admission is bounded: a token is admitted by Redis when it is leased
  and may be spent later (up to ``LEASE_LIFETIME_S``). So in any window a
  merchant gets at most what GCRA allows (``burst + rate x window``) plus the
  tokens the processes held when the window began: at most
  ``lease_size(limit) x processes``. ``lease_size`` is at most
  ``LEASE_FRACTION_S`` of a second's allowance (and never more than the burst
  or ``MAX_LEASE``): with the default 500 reads/s, 5 tokens per process.
  A limit slow enough to give one token per lease is exact, as before.
- Tokens not spent within ``LEASE_LIFETIME_S`` are dropped, never returned: a
  quiet process under-spends by at most one lease per lifetime.
- A refusal is Redis' own (no tokens left at all), with its retry delay; until
  that delay has passed this process refuses the merchant's reads itself (with
  what is left of the delay) instead of asking again: GCRA cannot admit
  anything sooner, whoever asks.

Concurrent reads of one merchant that find the pool empty share ONE lease in
flight: the first asks Redis, the others wait for its answer, take what it
brought, and only then (if it did not bring enough) lease again. Its failure
(Redis unavailable) reaches each of them, so each falls back as a direct call
would have.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.gate.limits import MICROS, RateLimit, RpcClass
from core.redis.gcra import GCRA_LUA

LEASE_FRACTION_S = 0.01
"""A lease holds at most this many seconds' worth of the merchant's limit (1 %)."""
MAX_LEASE = 32
"""And at most this many tokens, however high the limit."""
LEASE_LIFETIME_S = 1.0
"""Leased tokens not spent by then are dropped."""

LEASE_SCRIPT = (
    GCRA_LUA
    + """
local granted, retry_after = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]),
                                  tonumber(ARGV[3]), now)
if granted == 0 then
  return {0, retry_after}
end
return {granted, 0}
"""
)
"""GCRA for ``want`` requests at once (ARGV: interval_us, tolerance_us, want).

Returns ``{granted, 0}`` with 1 <= granted <= want, as many as GCRA admits one
after the other at Redis' ``now``, or ``{0, retry_after_us}`` when none is.
"""


def lease_size(limit: RateLimit) -> int:
    """How many tokens one lease asks for under ``limit`` (see the module docstring)."""
    return max(1, min(limit.burst, MAX_LEASE, int(limit.rate_per_s * LEASE_FRACTION_S)))


Lease = Callable[[str, RpcClass, RateLimit, int], Awaitable[tuple[int, int]]]
"""Ask Redis for ``want`` tokens: ``(granted, retry_after_us)``; raises when Redis is away."""


@dataclass(slots=True)
class _Pool:
    tokens: int = 0
    expires: float = 0.0
    refused_until: float = 0.0
    """Redis refused a lease: nothing is admitted before then (monotonic seconds)."""
    leasing: asyncio.Future[int] | None = None
    """The lease in flight: its result is the refusal's retry_after_us (0: granted)."""


@dataclass(slots=True)
class LeaseStats:
    """How reads were admitted: from local tokens, or by a lease (a round trip)."""

    leases: int = 0
    spent: int = 0
    dropped: int = 0
    """Tokens expired unspent."""
    refused_locally: int = 0
    """Reads refused without asking, while a refusal of Redis still held."""


@dataclass(slots=True)
class LeasedBudgets:
    """This process' pools of leased read tokens, per merchant and RPC class."""

    lease: Lease
    monotonic: Callable[[], float]
    max_keys: int = 100_000
    stats: LeaseStats = field(default_factory=LeaseStats)
    _pools: dict[tuple[str, RpcClass], _Pool] = field(default_factory=dict)

    async def spend(self, merchant_id: str, rpc_class: RpcClass, limit: RateLimit) -> int:
        """Spend one token: 0 when allowed, else Redis' retry delay in microseconds.

        Raises what ``lease`` raises (Redis unavailable): the caller fails open.
        """
        key = (merchant_id, rpc_class)
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= self.max_keys:
                self._make_room()
            pool = self._pools[key] = _Pool()
        while True:
            now = self.monotonic()
            if now < pool.refused_until:
                self.stats.refused_locally += 1
                return max(1, round((pool.refused_until - now) * MICROS))
            if pool.tokens:
                if now < pool.expires:
                    pool.tokens -= 1
                    self.stats.spent += 1
                    return 0
                self.stats.dropped += pool.tokens
                pool.tokens = 0
            if pool.leasing is not None:
                # Someone's lease is in flight: its answer (or its failure) is ours too.
                retry_after_us = await asyncio.shield(pool.leasing)
                if retry_after_us:
                    return retry_after_us
                continue  # take what it brought, or lease again
            return await self._lease(pool, merchant_id, rpc_class, limit)

    async def _lease(
        self, pool: _Pool, merchant_id: str, rpc_class: RpcClass, limit: RateLimit
    ) -> int:
        leasing = pool.leasing = asyncio.get_running_loop().create_future()
        self.stats.leases += 1
        try:
            granted, retry_after_us = await self.lease(
                merchant_id, rpc_class, limit, lease_size(limit)
            )
        except BaseException as exc:
            # The waiters get the same failure (a cancellation of this caller
            # only: they lease again themselves). Tokens Redis may have granted
            # to a cancelled lease are lost, which under-admits, never over.
            pool.leasing = None
            if isinstance(exc, asyncio.CancelledError):
                leasing.set_result(0)
            else:
                leasing.set_exception(exc)
                leasing.exception()  # retrieved: no "never retrieved" warning without waiters
            raise
        pool.leasing = None
        refused_for_us = 0 if granted else max(1, retry_after_us)
        if granted:
            pool.tokens = granted - 1  # one is this caller's
            pool.expires = self.monotonic() + LEASE_LIFETIME_S
            self.stats.spent += 1
        else:
            pool.refused_until = self.monotonic() + refused_for_us / MICROS
        leasing.set_result(refused_for_us)
        return refused_for_us

    def _make_room(self) -> None:
        # Idle pools (no tokens, no lease in flight) hold nothing worth keeping.
        self._pools = {k: p for k, p in self._pools.items() if p.tokens or p.leasing}
