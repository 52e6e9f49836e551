"""Idempotency markers of the request gate, on a single Redis and on a Redis Cluster (issue 3).

A write's claim (operation, request_id, fingerprint) places an in-flight marker
in the same script that spends the rate limit; the gate answers NEW, SEEN or
CONFLICT from it. Reads carry no claim and are UNCHECKED.
"""

from __future__ import annotations

import asyncio
import dataclasses

from core.config import RateLimitSettings
from core.gate import Admission
from core.redis.request_gate import RedisRequestGate
from tests.support.requests import new_merchant_id

from .conftest import GateBackend, MakeGate
from .helpers import READS, WRITES, new_claim, refusal

MARKER_TTL_S = 0.3


async def test_the_same_claim_is_new_then_seen(gate: RedisRequestGate, merchant_id: str) -> None:
    claim = new_claim()

    assert await gate.admit(merchant_id, WRITES, claim) is Admission.NEW
    assert await gate.admit(merchant_id, WRITES, claim) is Admission.SEEN
    assert await gate.admit(merchant_id, WRITES, claim) is Admission.SEEN


async def test_the_same_request_id_with_another_fingerprint_is_a_conflict(
    gate: RedisRequestGate, merchant_id: str
) -> None:
    claim = new_claim(fingerprint=b"amount=100")
    changed = dataclasses.replace(claim, fingerprint=b"amount=200")

    assert await gate.admit(merchant_id, WRITES, claim) is Admission.NEW
    assert await gate.admit(merchant_id, WRITES, changed) is Admission.CONFLICT
    assert await gate.admit(merchant_id, WRITES, claim) is Admission.SEEN  # the first one stays


async def test_a_request_id_is_scoped_to_its_operation_and_merchant(
    gate: RedisRequestGate, merchant_id: str
) -> None:
    claim = new_claim("create_payment")

    assert await gate.admit(merchant_id, WRITES, claim) is Admission.NEW
    refund = dataclasses.replace(claim, operation="refund_payment")
    assert await gate.admit(merchant_id, WRITES, refund) is Admission.NEW
    assert await gate.admit(new_merchant_id(), WRITES, claim) is Admission.NEW


async def test_concurrent_copies_of_a_request_are_admitted_new_exactly_once(
    gate: RedisRequestGate, merchant_id: str
) -> None:
    claim = new_claim()

    answers = await asyncio.gather(*(gate.admit(merchant_id, WRITES, claim) for _ in range(10)))

    assert sorted(answer.value for answer in answers) == ["new"] + ["seen"] * 9


async def test_release_makes_the_next_admit_new(gate: RedisRequestGate, merchant_id: str) -> None:
    claim = new_claim()
    await gate.admit(merchant_id, WRITES, claim)

    await gate.release(merchant_id, claim)

    assert await gate.admit(merchant_id, WRITES, claim) is Admission.NEW
    assert await gate.admit(merchant_id, WRITES, claim) is Admission.SEEN


async def test_a_marker_expires_after_its_ttl(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    gate = await make_gate(gate_backend, marker_ttl_s=MARKER_TTL_S)
    claim = new_claim()

    assert await gate.admit(merchant_id, WRITES, claim) is Admission.NEW
    await asyncio.sleep(MARKER_TTL_S / 3)
    assert await gate.admit(merchant_id, WRITES, claim) is Admission.SEEN
    await asyncio.sleep(MARKER_TTL_S)
    assert await gate.admit(merchant_id, WRITES, claim) is Admission.NEW


async def test_reads_carry_no_claim_and_are_unchecked(
    gate: RedisRequestGate, merchant_id: str
) -> None:

    assert await gate.admit(merchant_id, READS, None) is Admission.UNCHECKED
    assert await gate.admit(merchant_id, READS, None) is Admission.UNCHECKED
    assert gate.stats.fail_open_decisions == 0  # unchecked by design, not for want of Redis


async def test_a_refused_request_places_no_marker(
    gate_backend: GateBackend, make_gate: MakeGate, merchant_id: str
) -> None:
    gate = await make_gate(gate_backend, limits=RateLimitSettings(writes_per_s=5, writes_burst=1))
    await gate.admit(merchant_id, WRITES, new_claim())
    refused = new_claim()

    error = await refusal(gate, merchant_id, WRITES, refused)
    await asyncio.sleep(error.retry_after_ms / 1000)

    assert await gate.admit(merchant_id, WRITES, refused) is Admission.NEW
