"""Group commit of channel answers (issue 18): one statement, per-request outcomes.

Against the real PostgreSQL: each change is written only where the attempt is
still started and the payment's row still the version its claim wrote; one
that lost that race (settled or changed meanwhile, before or while the
statement runs) drops out alone and writes nothing; the others' payments,
attempts, request records, events and ledger postings (of several merchants,
balances summed per account) commit together. (Creates sharing statements
through the real server: tests/idempotency/test_round_trips.py.)
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta

import asyncpg
import pytest

from core.app import Services
from core.domain.attempt import AttemptOutcome, ChannelResult
from core.domain.payment import PaymentState, Refund, RefundState
from core.ports.repository import AnsweredChange, NewClaim
from core.service.payment_changes import payment_change
from tests.support.payments import AT, new_claim

LATER = AT + timedelta(seconds=1)
SUCCEEDED = ChannelResult(AttemptOutcome.SUCCEEDED, reference="ch_ref")


async def in_flight(services: Services, *merchants: str) -> list[tuple[NewClaim, int]]:
    """One new payment in flight per merchant given, committed by the claims' batch."""
    claims = [new_claim(m, f"r{i}") for i, m in enumerate(merchants)]
    versions = await services.repository.commit_new_claims(claims, AT - timedelta(days=1))
    assert versions is not None
    return [(claim, version) for claim, version in zip(claims, versions, strict=True) if version]


def captured(claim: NewClaim, version: int) -> AnsweredChange:
    """The capture of the payment as its claim wrote it (``version``)."""
    before = claim.payment
    after = dataclasses.replace(
        before,
        state=PaymentState.CAPTURED,
        amount_captured=before.amount,
        operation_in_flight="",
        updated_at=LATER,
    )
    assert claim.attempt is not None
    change = payment_change(before, after)
    return AnsweredChange(
        claim.key, claim.attempt.id, SUCCEEDED, version, change, True, b"ok", LATER
    )


async def states(services: Services, merchant: str) -> dict[str, tuple[str, str, str]]:
    """Each payment's state, its request record's and its attempt's outcome."""
    rows = await services.pool.fetch(
        "SELECT p.id, p.state, k.state AS request, a.outcome FROM payments p"
        " JOIN idempotency_keys k ON k.merchant_id = p.merchant_id AND k.resource_id = p.id"
        " JOIN channel_attempts a ON a.merchant_id = p.merchant_id AND a.payment_id = p.id"
        " WHERE p.merchant_id = $1",
        merchant,
    )
    return {r["id"]: (r["state"], r["request"], r["outcome"]) for r in rows}


DONE = ("captured", "completed", "succeeded")
UNTOUCHED = ("pending", "in_progress", "started")


async def test_an_attempt_settled_meanwhile_drops_out_alone_not_its_batch(
    services: Services,
) -> None:
    merchant = f"ab_{uuid.uuid4().hex[:10]}"
    claims = await in_flight(services, merchant, merchant, merchant)
    settled = claims[1][0].attempt
    assert settled is not None
    # A status query settled the second attempt while its request waited.
    await services.pool.execute(
        "UPDATE channel_attempts SET outcome = 'failed' WHERE merchant_id = $1 AND id = $2",
        merchant,
        settled.id,
    )

    written = await services.repository.commit_answers([captured(*c) for c in claims])

    assert written == [True, False, True]
    assert await states(services, merchant) == {
        claims[0][0].payment.id: DONE,
        claims[1][0].payment.id: ("pending", "in_progress", "failed"),  # untouched
        claims[2][0].payment.id: DONE,
    }


async def test_a_payment_changed_meanwhile_drops_out_alone_and_writes_nothing(
    services: Services,
) -> None:
    merchant = f"ab_{uuid.uuid4().hex[:10]}"
    claims = await in_flight(services, merchant, merchant)
    moved = claims[0][0].payment
    # Changed by another transaction (its attempt still started): the change
    # computed from the payment as claimed is stale.
    await services.pool.execute(
        "UPDATE payments SET description = 'edited' WHERE merchant_id = $1 AND id = $2",
        merchant,
        moved.id,
    )
    events = await services.pool.fetchval(
        "SELECT count(*) FROM events WHERE merchant_id = $1", merchant
    )

    written = await services.repository.commit_answers([captured(*c) for c in claims])

    assert written == [False, True]
    assert await states(services, merchant) == {
        moved.id: UNTOUCHED,  # nor its attempt, nor its request record
        claims[1][0].payment.id: DONE,
    }
    posted = await services.pool.fetch(
        "SELECT reference FROM ledger_transactions WHERE merchant_id = $1", merchant
    )
    assert [r["reference"] for r in posted] == [claims[1][0].payment.id]
    payment_events = await services.pool.fetch(
        "SELECT resource_id FROM events WHERE merchant_id = $1 AND sequence > $2",
        merchant,
        events,
    )
    assert {r["resource_id"] for r in payment_events} == {claims[1][0].payment.id}


async def test_a_row_changed_while_the_statement_waits_for_its_lock_drops_out(
    services: Services,
) -> None:
    merchant = f"ab_{uuid.uuid4().hex[:10]}"
    claims = await in_flight(services, merchant, merchant)
    raced, other = claims[1][0], claims[0][0]
    assert raced.attempt is not None
    # A status query holds the attempt and the payment, settling both...
    async with services.pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "UPDATE channel_attempts SET outcome = 'failed' WHERE merchant_id = $1 AND id = $2",
            merchant,
            raced.attempt.id,
        )
        await connection.execute(
            "UPDATE payments SET state = 'failed', operation_in_flight = ''"
            " WHERE merchant_id = $1 AND id = $2",
            merchant,
            raced.payment.id,
        )
        # ...while the batch's statement starts: it waits for the attempt's lock.
        batch = asyncio.ensure_future(
            services.repository.commit_answers([captured(*c) for c in claims])
        )
        await asyncio.sleep(0.3)
        assert not batch.done()

    written = await batch

    assert written == [True, False]
    assert await states(services, merchant) == {
        other.payment.id: DONE,
        raced.payment.id: ("failed", "in_progress", "failed"),  # the status query's, only
    }


async def test_a_change_the_statement_cannot_take_is_not_sent(services: Services) -> None:
    merchant = f"ab_{uuid.uuid4().hex[:10]}"
    ((claim, version),) = await in_flight(services, merchant)
    change = captured(claim, version)
    refund = Refund(
        id="re_1",
        payment_id=claim.payment.id,
        amount=change.change.after.amount,
        state=RefundState.PENDING,
        reason="",
        created_at=LATER,
    )
    with_refund = dataclasses.replace(change.change.after, refunds=(refund,))

    written = await services.repository.commit_answers(
        [dataclasses.replace(change, change=payment_change(claim.payment, with_refund))]
    )

    assert written == [False]
    assert await states(services, merchant) == {claim.payment.id: UNTOUCHED}


async def test_a_system_account_that_may_not_be_overdrawn_fails_the_whole_statement(
    services: Services,
) -> None:
    merchant = f"ab_{uuid.uuid4().hex[:10]}"
    claims = await in_flight(services, merchant, merchant)
    # Never written by paycore: a row under the clearing account's id refusing overdrafts.
    await services.pool.execute(
        "INSERT INTO ledger_accounts (merchant_id, id, kind, currency, allow_overdraft,"
        " create_time) VALUES ($1, $2, 'clearing', 'EUR', false, now())",
        merchant,
        await clearing_account(services, claims),
    )

    with pytest.raises(asyncpg.NotNullViolationError):
        await services.repository.commit_answers([captured(*c) for c in claims])

    assert await states(services, merchant) == {c.payment.id: UNTOUCHED for c, _ in claims}


async def clearing_account(services: Services, claims: list[tuple[NewClaim, int]]) -> str:
    """The account a capture debits (learnt from another merchant's capture)."""
    probe = f"ab_{uuid.uuid4().hex[:10]}"
    ((claim, version),) = await in_flight(services, probe)
    assert await services.repository.commit_answers([captured(claim, version)]) == [True]
    account: str = await services.pool.fetchval(
        "SELECT account_id FROM ledger_entries WHERE merchant_id = $1 AND amount < 0", probe
    )
    return account


async def test_captures_of_several_merchants_post_balanced_entries_and_matching_balances(
    services: Services,
) -> None:
    first, second = f"ab_{uuid.uuid4().hex[:10]}", f"ab_{uuid.uuid4().hex[:10]}"
    claims = await in_flight(services, first, second, first)

    written = await services.repository.commit_answers([captured(*c) for c in claims])

    assert written == [True, True, True]
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
