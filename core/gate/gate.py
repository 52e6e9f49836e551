"""The request gate: rate limiting and the fast idempotency check, as one step.

The payment service asks the gate once per request, before any database work.
This module only defines what the gate answers; ``core.redis.request_gate`` is
the implementation (one Redis round trip per write; reads spend tokens leased
a few at a time, core/redis/read_leases.py).

The gate is a fast path, never the only guard: PostgreSQL keeps the
authoritative record of every request_id (core/storage). A gate that lost its
memory (Redis flushed, failed over, down) lets a repeated request through to
PostgreSQL, which then replays the stored reply. It never causes a second
execution.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from core.gate.limits import RpcClass


class Admission(enum.Enum):
    """What the gate knows of a mutating request's request_id."""

    NEW = "new"
    """First sighting: this request placed the in-flight marker. PostgreSQL still decides."""
    SEEN = "seen"
    """The same request was admitted moments ago: answer from PostgreSQL's record."""
    CONFLICT = "conflict"
    """The request_id was just used for a different request."""
    UNCHECKED = "unchecked"
    """The gate could not look (Redis unavailable): PostgreSQL alone guards this request."""


@dataclass(frozen=True, slots=True)
class GateClaim:
    """The idempotency identity a mutating request presents to the gate."""

    operation: str
    request_id: str
    fingerprint: bytes


@dataclass(slots=True)
class Rider:
    """Redis work of the merchant that rides in the gate's round trip of a NEW write.

    ``lua`` defines ``local function rider(KEYS, ARGV, clock_us)`` returning an array
    (``clock_us``: Redis' TIME in microseconds, as the gate's script read it);
    every key carries the merchant's hash tag (one Cluster slot with the
    gate's keys). ``reply`` is that array once the gate ran it; it stays None
    when the request was refused, repeated, or Redis was not asked.
    """

    lua: str
    keys: list[str]
    args: list[str | int]
    reply: list[int] | None = None


class RequestGate(Protocol):
    """Admits or refuses requests; raises RateLimitedError when over the limit."""

    async def admit(
        self,
        merchant_id: str,
        rpc_class: RpcClass,
        claim: GateClaim | None,
        rider: Rider | None = None,
    ) -> Admission:
        """Spend one request of the merchant's budget and, for writes, check the request_id.

        Reads pass ``claim=None`` and get UNCHECKED back when allowed. A
        write's ``rider`` runs in the same round trip when the answer is NEW.
        """
        ...

    async def release(self, merchant_id: str, claim: GateClaim) -> None:
        """Forget a marker whose request did not commit, so its retry is not held up."""
        ...
