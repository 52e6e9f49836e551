"""Requests to present to a gate in the gate suites."""

from __future__ import annotations

import uuid

import pytest

from core.domain.errors import RateLimitedError
from core.gate import Admission, GateClaim, RpcClass
from core.redis.request_gate import RedisRequestGate

WRITES, READS = RpcClass.WRITES, RpcClass.READS


def new_claim(operation: str = "create_payment", fingerprint: bytes = b"request-a") -> GateClaim:
    """A write's idempotency identity with a request_id never used before."""
    return GateClaim(operation, f"req_{uuid.uuid4().hex}", fingerprint)


async def admit_all(
    gate: RedisRequestGate, merchant_id: str, rpc_class: RpcClass, count: int
) -> list[Admission]:
    """``count`` requests one after the other (writes with fresh claims); all must be allowed."""
    return [
        await gate.admit(merchant_id, rpc_class, new_claim() if rpc_class is WRITES else None)
        for _ in range(count)
    ]


async def refusal(
    gate: RedisRequestGate, merchant_id: str, rpc_class: RpcClass, claim: GateClaim | None = None
) -> RateLimitedError:
    """The RateLimitedError the next request gets (a write: ``claim`` or a fresh one).

    The test fails if the request is allowed.
    """
    if claim is None and rpc_class is WRITES:
        claim = new_claim()
    with pytest.raises(RateLimitedError) as refused:
        await gate.admit(merchant_id, rpc_class, claim)
    return refused.value
