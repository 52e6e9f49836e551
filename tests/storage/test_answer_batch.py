"""Group commit of channel answers (issue 18): one transaction, per-request outcomes.

Against the real PostgreSQL: an attempt settled meanwhile drops out alone; a
request left out after the read leaves nothing (its attempt is put back as it
was); the others' payments, request records, events and ledger postings (of
several merchants, balances summed per account) commit together. (Creates
sharing transactions through the real server: tests/idempotency/test_round_trips.py.)
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

from core.app import Services
from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.payment import Payment, PaymentState
from core.storage.repository import AnsweredChange, ChannelAnswer, NewClaim
from tests.storage.test_group_commit import AT, new_claim

LATER = AT + timedelta(seconds=1)
SUCCEEDED = ChannelResult(AttemptOutcome.SUCCEEDED, reference="ch_ref")


async def in_flight(services: Services, *merchants: str) -> list[NewClaim]:
    """One new payment in flight per merchant given, committed by the claims' batch."""
    claims = [new_claim(m, f"r{i}") for i, m in enumerate(merchants)]
    committed = await services.repository.commit_new_claims(claims, AT - timedelta(days=1))
    assert committed == [True] * len(claims)
    return claims


def answer(claim: NewClaim) -> ChannelAnswer:
    assert claim.attempt is not None
    return ChannelAnswer(
        claim.key.merchant_id, claim.attempt.id, claim.payment.id, SUCCEEDED, LATER
    )


def captured(claim: NewClaim, before: Payment) -> AnsweredChange:
    after = dataclasses.replace(
        before,
        state=PaymentState.CAPTURED,
        amount_captured=before.amount,
        operation_in_flight="",
        updated_at=LATER,
    )
    return AnsweredChange(claim.key, before, after, True, claim.payment.id.encode(), LATER)


async def test_an_attempt_settled_meanwhile_drops_out_alone_not_its_batch(
    services: Services,
) -> None:
    merchant = f"ab_{uuid.uuid4().hex[:10]}"
    claims = await in_flight(services, merchant, merchant, merchant)
    settled = claims[1].attempt
    assert settled is not None
    # A status query settled the second attempt while its request waited.
    await services.pool.execute(
        "UPDATE channel_attempts SET outcome = 'failed' WHERE merchant_id = $1 AND id = $2",
        merchant,
        settled.id,
    )

    async with services.repository.answer_batch() as batch:
        assert batch is not None
        current = await batch.settle([answer(c) for c in claims])
        assert [p is not None for p in current] == [True, False, True]
        changes = [
            None if before is None else captured(claim, before)
            for claim, before in zip(claims, current, strict=True)
        ]
        written = await batch.write(changes)

    assert written == [True, False, True]
    rows = await services.pool.fetch(
        "SELECT p.id, p.state, k.state AS request, a.outcome FROM payments p"
        " JOIN idempotency_keys k ON k.merchant_id = p.merchant_id AND k.resource_id = p.id"
        " JOIN channel_attempts a ON a.merchant_id = p.merchant_id AND a.payment_id = p.id"
        " WHERE p.merchant_id = $1",
        merchant,
    )
    found = {r["id"]: (r["state"], r["request"], r["outcome"]) for r in rows}
    assert found == {
        claims[0].payment.id: ("captured", "completed", "succeeded"),
        claims[1].payment.id: ("pending", "in_progress", "failed"),  # untouched
        claims[2].payment.id: ("captured", "completed", "succeeded"),
    }


async def test_a_request_left_out_after_the_read_has_its_attempt_put_back(
    services: Services,
) -> None:
    merchant = f"ab_{uuid.uuid4().hex[:10]}"
    claims = await in_flight(services, merchant, merchant)
    before = await services.pool.fetch(
        "SELECT id, outcome, channel_reference, failure_code, complete_time"
        " FROM channel_attempts WHERE merchant_id = $1 ORDER BY id",
        merchant,
    )

    async with services.repository.answer_batch() as batch:
        assert batch is not None
        current = await batch.settle([answer(c) for c in claims])
        assert current[0] is not None
        written = await batch.write([captured(claims[0], current[0]), None])

    assert written == [True, False]
    after = await services.pool.fetch(
        "SELECT id, outcome, channel_reference, failure_code, complete_time"
        " FROM channel_attempts WHERE merchant_id = $1 ORDER BY id",
        merchant,
    )
    left_out = claims[1].attempt
    assert left_out is not None
    assert [dict(r) for r in after if r["id"] == left_out.id] == [
        dict(r) for r in before if r["id"] == left_out.id
    ]
    assert [r["outcome"] for r in after if r["id"] != left_out.id] == ["succeeded"]
    state = await services.pool.fetchval(
        "SELECT state FROM payments WHERE merchant_id = $1 AND id = $2",
        merchant,
        claims[1].payment.id,
    )
    assert state == "pending"


async def test_captures_of_several_merchants_post_balanced_entries_and_matching_balances(
    services: Services,
) -> None:
    first, second = f"ab_{uuid.uuid4().hex[:10]}", f"ab_{uuid.uuid4().hex[:10]}"
    claims = await in_flight(services, first, second, first)

    async with services.repository.answer_batch() as batch:
        assert batch is not None
        current = await batch.settle([answer(c) for c in claims])
        changes = [captured(c, p) for c, p in zip(claims, current, strict=True) if p is not None]
        assert await batch.write(changes) == [True, True, True]

    pool = services.pool
    for merchant, payments in ((first, 2), (second, 1)):
        sums = await pool.fetch(
            "SELECT transaction_id, sum(amount) AS total FROM ledger_entries"
            " WHERE merchant_id = $1 GROUP BY transaction_id",
            merchant,
        )
        assert len(sums) == payments  # one capture posting per payment
        assert all(s["total"] == 0 for s in sums)  # each transaction sums to zero
        balances = await pool.fetch(
            "SELECT a.id, a.credits_posted - a.debits_posted AS balance,"
            " (SELECT sum(e.amount) FROM ledger_entries e"
            "  WHERE e.merchant_id = a.merchant_id AND e.account_id = a.id) AS entries"
            " FROM ledger_accounts a WHERE a.merchant_id = $1",
            merchant,
        )
        assert balances
        assert all(b["balance"] == b["entries"] for b in balances), [dict(b) for b in balances]
        assert {abs(b["balance"]) for b in balances} == {700 * payments}
    events = await pool.fetch(
        "SELECT merchant_id, sequence FROM events WHERE merchant_id = ANY($1)"
        " ORDER BY merchant_id, sequence",
        [first, second],
    )
    for merchant in (first, second):
        numbers = [e["sequence"] for e in events if e["merchant_id"] == merchant]
        assert numbers == list(range(1, len(numbers) + 1))  # no gaps across both batches
    assert len(events) > 3  # created (by the claims) and captured (by the answers)
