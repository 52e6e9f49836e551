"""The group commit's writer (core/service/group_commit.py) over an in-memory ClaimBatches."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

import pytest

from core.ports.repository import PaymentTransaction
from core.service.group_commit import ClaimWriter, NotBatchableError, PlannedWrites
from core.service.requests import Dispatch, Encoder, Plan, RequestIdentity
from tests.support.memory import MemoryClaimBatches
from tests.support.payments import AT, new_claim


async def turns(count: int = 5) -> None:
    """Let the loop run ``count`` turns (flushes, statements starting)."""
    for _ in range(count):
        await asyncio.sleep(0)


def writer(storage: MemoryClaimBatches) -> ClaimWriter:
    return ClaimWriter(storage, lambda at: at - timedelta(days=1))


async def test_claims_ready_in_one_loop_turn_share_one_statement() -> None:
    storage = MemoryClaimBatches()
    claims = [new_claim("m", f"r{i}") for i in range(5)]

    outcomes = await asyncio.gather(*(writer(storage).claim(c) for c in claims[:1]))
    shared = writer(storage)
    together = await asyncio.gather(*(shared.claim(c) for c in claims[1:]))

    assert outcomes == [True]
    assert together == [True] * 4
    assert storage.statements == [["r0"], ["r1", "r2", "r3", "r4"]]
    assert (shared.batches, shared.claims) == (1, 4)


async def test_a_claimed_request_id_fails_alone() -> None:
    storage = MemoryClaimBatches()
    storage.claimed.add("taken")
    shared = writer(storage)

    outcomes = await asyncio.gather(
        shared.claim(new_claim("m", "a")),
        shared.claim(new_claim("m", "taken")),
        shared.claim(new_claim("m", "b")),
    )

    assert list(outcomes) == [True, False, True]


async def test_the_same_request_id_twice_in_one_batch_leaves_the_second_out() -> None:
    storage = MemoryClaimBatches()
    shared = writer(storage)

    outcomes = list(
        await asyncio.gather(
            shared.claim(new_claim("m", "twice")), shared.claim(new_claim("m", "twice"))
        )
    )

    assert outcomes == [True, False]
    assert storage.statements == [["twice"]]


async def test_a_failed_statement_sends_every_claim_of_it_the_ordinary_way() -> None:
    storage = MemoryClaimBatches()
    storage.fail = True
    shared = writer(storage)

    outcomes = await asyncio.gather(*(shared.claim(new_claim("m", f"r{i}")) for i in range(3)))

    assert outcomes == [None, None, None]
    storage.fail = False
    assert await shared.claim(new_claim("m", "r0")) is True  # the writer goes on


async def test_claims_arriving_while_statements_run_leave_together() -> None:
    storage = MemoryClaimBatches()
    storage.release = asyncio.Event()
    shared = writer(storage)
    first = [asyncio.ensure_future(shared.claim(new_claim("m", f"a{i}"))) for i in range(2)]
    await turns()
    second = asyncio.ensure_future(shared.claim(new_claim("m", "b")))
    await turns()
    later = [asyncio.ensure_future(shared.claim(new_claim("m", f"c{i}"))) for i in range(3)]
    await turns()

    assert storage.statements == [["a0", "a1"], ["b"]]  # two under way; the rest wait
    storage.release.set()
    assert await asyncio.gather(*first, second, *later) == [True] * 6
    assert storage.statements == [["a0", "a1"], ["b"], ["c0", "c1", "c2"]]


async def test_a_cancelled_request_does_not_break_its_batch() -> None:
    storage = MemoryClaimBatches()
    storage.release = asyncio.Event()
    shared = writer(storage)
    cancelled = asyncio.ensure_future(shared.claim(new_claim("m", "gone")))
    kept = asyncio.ensure_future(shared.claim(new_claim("m", "kept")))
    await turns()

    cancelled.cancel()
    storage.release.set()

    assert await kept is True
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert storage.claimed == {"gone", "kept"}  # committed as a whole (see ClaimWriter.claim)


async def test_planned_writes_refuse_anything_but_a_new_payments_writes() -> None:
    writes = PlannedWrites()
    claim = new_claim("m", "r")

    with pytest.raises(NotBatchableError):
        await writes.payments.lock("m", claim.payment.id)
    await writes.payments.save(claim.change)
    assert claim.attempt is not None
    await writes.attempts.record(claim.attempt, AT)

    assert (writes.payment, writes.attempt) == (claim.payment, claim.attempt)


async def test_a_planned_call_carries_its_payment_as_committed_and_its_version() -> None:
    storage = MemoryClaimBatches()
    claim = new_claim("m", "r")
    attempt = claim.attempt
    assert attempt is not None
    dispatch: Dispatch[str] = Dispatch(attempt, None, lambda p, r, at: (p, "done"))

    async def plan(tx: PaymentTransaction, now: datetime) -> Plan[str]:
        await tx.payments.save(claim.change)
        await tx.attempts.record(attempt, now)
        return Plan(claim.payment.id, dispatch=dispatch)

    planned = await writer(storage).claim_planned(
        claim.key,
        RequestIdentity("r", b"r"),
        Encoder(str.encode, lambda error: b"failed"),
        plan,
        now=AT,
        lease_s=60,
    )

    assert planned is not None
    resource_id, call = planned
    assert resource_id == claim.payment.id
    assert isinstance(call, Dispatch)
    assert call.attempt is attempt
    # What its answer's one statement checks the payment's row against: the
    # version, and the payment as a read returns it now (its attempt started).
    assert call.written is not None
    assert call.written.version == 1
    (started,) = call.written.payment.attempts
    assert (started.id, started.outcome, started.created_at) == (attempt.id, "started", AT)
    assert dataclasses.replace(call.written.payment, attempts=()) == claim.payment
