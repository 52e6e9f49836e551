"""The request gate on Redis: rate limit and idempotency marker in one round trip.

One Lua script, run with EVALSHA, does both steps atomically on the Redis node
that owns the merchant:

1. GCRA rate limit on ``paycore:{<merchant>}:rl:<class>``
   (see core/gate/limits.py for the arithmetic; the clock is Redis' own TIME,
   so every paycore process shares one clock per merchant);
2. for writes, ``SET NX`` of ``paycore:{<merchant>}:req:<rpc>:<request_id>``
   holding the request's keyed fingerprint, for ``request_lease_s``.

Reads (no claim) do not pay that round trip each: the process leases a few of
the merchant's read tokens from the same GCRA state at once and spends them
locally (core/redis/read_leases.py, which bounds the over-admission).

Every key of a merchant carries the hash tag ``{<merchant>}``, so in a Redis
Cluster they live in one slot and the script can touch them together.

A write may bring a ``Rider``: more Redis work of the same merchant (risk
velocity, core/redis/velocity.py) that runs in the same script, only when the
request is NEW (a refused or repeated request counts nothing), so a payment
costs one round trip in all.

The scripts of concurrent requests leave together: ``AutoPipeline``
(core/redis/autopipeline.py) sends every command queued in one event-loop tick
as one pipeline, so N concurrent requests cost one round trip, not N.

When Redis cannot be reached (error or timeout), the gate fails open: rate
limits fall back to an in-process limiter and requests go on UNCHECKED, with
PostgreSQL alone guarding idempotency. ``RedisAvailability`` then keeps every
user of Redis (the gate, risk velocity) away from it for
``redis_retry_interval_s`` so that an outage does not add a timeout to every
request, and logs the fallback at most once per ``log_interval_s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import RedisClusterException, RedisError

from core.domain.errors import RateLimitedError
from core.gate.gate import Admission, GateClaim, Rider
from core.gate.limits import MICROS, LocalLimiter, RateLimit, RateLimitConfig, RpcClass
from core.redis.autopipeline import AutoPipeline
from core.redis.gcra import GCRA_LUA
from core.redis.read_leases import LEASE_SCRIPT, LeasedBudgets
from core.telemetry import Telemetry

log = logging.getLogger(__name__)

RedisClient = aioredis.Redis | RedisCluster

# Everything that means "Redis could not answer": redis-py's cluster client
# raises RedisClusterException (not a RedisError) when no node is reachable.
REDIS_UNAVAILABLE = (RedisError, RedisClusterException, OSError)

_SCRIPT = (
    GCRA_LUA
    + """
local granted, retry_after = gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), 1, now)
if granted == 0 then
  return {0, retry_after}
end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'PX', ARGV[4]) then
  if RIDER then return {1, 1, rider({unpack(KEYS, 3)}, {unpack(ARGV, 5)}, now)} end
  return {1, 1}
end
if redis.call('GET', KEYS[2]) == ARGV[3] then return {1, 2} end
return {1, 3}
"""
)
_PLAIN_SCRIPT = "local RIDER = false\n" + _SCRIPT

_ADMISSIONS = {0: Admission.UNCHECKED, 1: Admission.NEW, 2: Admission.SEEN, 3: Admission.CONFLICT}


def rate_key(merchant_id: str, rpc_class: RpcClass) -> str:
    """Where a merchant's GCRA state for one RPC class lives."""
    return f"paycore:{{{merchant_id}}}:rl:{rpc_class.value}"


def request_key(merchant_id: str, claim: GateClaim) -> str:
    """Where a request_id's in-flight marker lives."""
    return f"paycore:{{{merchant_id}}}:req:{claim.operation}:{claim.request_id}"


def _with_rider(rider_lua: str) -> str:
    """The gate's script running ``rider_lua`` (defining ``rider(KEYS, ARGV, clock_us)``)."""
    return f"{rider_lua}\nlocal RIDER = true\n{_SCRIPT}"


class RedisAvailability:
    """Whether Redis is worth asking now: one view shared by every user of one Redis.

    After a failure everyone (the gate, risk velocity) leaves Redis alone for
    ``retry_interval_s`` and the fallback is logged at most once per
    ``log_interval_s``; the first call after that is the probe.
    """

    def __init__(
        self,
        *,
        retry_interval_s: float,
        log_interval_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._retry_interval_s = retry_interval_s
        self._log_interval_s = log_interval_s
        self._monotonic = monotonic
        self._away_until = 0.0
        self._last_log = float("-inf")
        self.stale_connections = False
        """Set by a failure: pooled sockets may lead to the old server (the gate drops them)."""

    def away(self) -> bool:
        """True while Redis is left alone after a failure."""
        return self._monotonic() < self._away_until

    def note_failure(self, exc: BaseException) -> None:
        """Redis did not answer: stay away for a while, and say so (rate-limited)."""
        self.stale_connections = True
        now = self._monotonic()
        self._away_until = now + self._retry_interval_s
        if now - self._last_log >= self._log_interval_s:
            self._last_log = now
            log.warning(
                "Redis unavailable (%s: %s): rate limits are per process, idempotency is"
                " checked by PostgreSQL alone and payments are scored without velocity"
                " until it is back",
                type(exc).__name__,
                exc,
            )


@dataclass(slots=True)
class GateStats:
    """Counters an operator (and the observability issue's metrics) can read."""

    redis_round_trips: int = 0
    redis_failures: int = 0
    fail_open_decisions: int = 0
    rate_limited: int = 0


def _limits(settings: RateLimitConfig, rpc_class: RpcClass) -> RateLimit:
    if rpc_class is RpcClass.WRITES:
        return RateLimit(settings.writes_per_s, settings.writes_burst)
    return RateLimit(settings.reads_per_s, settings.reads_burst)


def _describe(limit: RateLimit) -> str:
    return f"{limit.rate_per_s:g}/s (burst {limit.burst})"


class RedisRequestGate:
    """RequestGate on Redis (a single server or a Cluster), failing open when Redis is away."""

    def __init__(
        self,
        client: RedisClient,
        limits: RateLimitConfig,
        *,
        marker_ttl_s: float,
        retry_interval_s: float,
        log_interval_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._telemetry = telemetry or Telemetry.disabled()
        self._client = client
        self._script = client.register_script(_PLAIN_SCRIPT)
        self._lease_script = client.register_script(LEASE_SCRIPT)
        self._ridden: dict[str, AsyncScript] = {}
        self._settings = limits
        self._by_merchant: dict[tuple[str, RpcClass], RateLimit] = {}
        self._marker_ms = max(1, round(marker_ttl_s * 1000))
        self._monotonic = monotonic
        self._local = LocalLimiter(lambda: round(monotonic() * MICROS))
        self.availability = RedisAvailability(
            retry_interval_s=retry_interval_s, log_interval_s=log_interval_s, monotonic=monotonic
        )
        """Shared with the other users of this Redis (risk velocity): core/app/_risk.py."""
        self.stats = GateStats()
        self.pipeline = AutoPipeline(client)
        """Batches the gate's commands per loop tick; velocity shares it (core/app/_risk.py)."""
        self.reads = LeasedBudgets(self._lease, monotonic)
        """The read tokens this process leased (requests without a claim spend them)."""

    async def prepare(self, *riders: str) -> None:
        """Load the scripts (also with each of ``riders``) so first requests cost one round trip."""
        try:
            await self._client.script_load(_PLAIN_SCRIPT)
            await self._client.script_load(LEASE_SCRIPT)
            for rider_lua in riders:
                await self._client.script_load(self._script_with(rider_lua).script)
        except REDIS_UNAVAILABLE as exc:
            self._note_failure(exc)

    @property
    def client(self) -> RedisClient:
        """The gate's Redis client (risk velocity uses the same one)."""
        return self._client

    def _script_with(self, rider_lua: str) -> AsyncScript:
        script = self._ridden.get(rider_lua)
        if script is None:
            script = self._ridden[rider_lua] = self._client.register_script(_with_rider(rider_lua))
        return script

    def limit_for(self, merchant_id: str, rpc_class: RpcClass) -> RateLimit:
        """The merchant's limit for a class of RPC (defaults with its overrides)."""
        key = (merchant_id, rpc_class)
        limit = self._by_merchant.get(key)
        if limit is None:
            limit = _limits(self._settings.for_merchant(merchant_id), rpc_class)
            if len(self._by_merchant) < 100_000:
                self._by_merchant[key] = limit
        return limit

    async def admit(
        self,
        merchant_id: str,
        rpc_class: RpcClass,
        claim: GateClaim | None,
        rider: Rider | None = None,
    ) -> Admission:
        limit = self.limit_for(merchant_id, rpc_class)
        if not self.availability.away():
            if self.availability.stale_connections:
                await self._drop_connections()
            if claim is None:
                return await self._admit_read(merchant_id, rpc_class, limit)
            keys = [rate_key(merchant_id, rpc_class), request_key(merchant_id, claim)]
            args: list[str | int] = [
                limit.interval_us,
                limit.tolerance_us,
                claim.fingerprint.hex(),
                self._marker_ms,
            ]
            script = self._script
            if rider is not None:
                keys += rider.keys
                args += rider.args
                script = self._script_with(rider.lua)
            try:
                self.stats.redis_round_trips += 1
                allowed, value, *ridden = await self.pipeline.run_script(script, keys, args)
            except REDIS_UNAVAILABLE as exc:
                self._note_failure(exc)
            else:
                if not allowed:
                    self._refuse(merchant_id, rpc_class, limit, int(value))
                if rider is not None and ridden:
                    rider.reply = [int(item) for item in ridden[0]]
                return _ADMISSIONS[int(value)]
        return self._fail_open(merchant_id, rpc_class, limit)

    async def _admit_read(
        self, merchant_id: str, rpc_class: RpcClass, limit: RateLimit
    ) -> Admission:
        """A read: one of this process' leased tokens, leasing more when none is left."""
        try:
            retry_after_us = await self.reads.spend(merchant_id, rpc_class, limit)
        except REDIS_UNAVAILABLE as exc:
            self._note_failure(exc)
            return self._fail_open(merchant_id, rpc_class, limit)
        if retry_after_us:
            self._refuse(merchant_id, rpc_class, limit, retry_after_us)
        return Admission.UNCHECKED

    async def _lease(
        self, merchant_id: str, rpc_class: RpcClass, limit: RateLimit, want: int
    ) -> tuple[int, int]:
        self.stats.redis_round_trips += 1
        granted, retry_after_us = await self.pipeline.run_script(
            self._lease_script,
            [rate_key(merchant_id, rpc_class)],
            [limit.interval_us, limit.tolerance_us, want],
        )
        return int(granted), int(retry_after_us)

    def _fail_open(self, merchant_id: str, rpc_class: RpcClass, limit: RateLimit) -> Admission:
        self.stats.fail_open_decisions += 1
        self._telemetry.gate_failed_open()
        verdict = self._local.check(merchant_id, rpc_class, limit)
        if not verdict.allowed:
            self._refuse(merchant_id, rpc_class, limit, verdict.retry_after_us)
        return Admission.UNCHECKED

    async def release(self, merchant_id: str, claim: GateClaim) -> None:
        if self.availability.away():
            return  # the marker expires with its lease anyway
        try:
            await self.pipeline.execute("DEL", request_key(merchant_id, claim))
        except REDIS_UNAVAILABLE as exc:
            self._note_failure(exc)

    def _refuse(
        self, merchant_id: str, rpc_class: RpcClass, limit: RateLimit, retry_after_us: int
    ) -> None:
        self.stats.rate_limited += 1
        self._telemetry.rate_limited(rpc_class.value)
        raise RateLimitedError(
            merchant_id, rpc_class.value, _describe(limit), -(-retry_after_us // 1000)
        )

    async def _drop_connections(self) -> None:
        # After an outage the pool holds sockets to the old server; each would
        # fail once and send the gate back to fail-open for another interval.
        # Closing them all before the first probe makes recovery one step.
        self.availability.stale_connections = False
        try:
            if isinstance(self._client, RedisCluster):
                for node in self._client.get_nodes():
                    await node.disconnect()
            else:
                await self._client.connection_pool.disconnect()
        except REDIS_UNAVAILABLE as exc:
            self._note_failure(exc)

    def _note_failure(self, exc: BaseException) -> None:
        self.stats.redis_failures += 1
        self.availability.note_failure(exc)
