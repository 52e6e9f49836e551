"""Measured: Redis round trips per request, from Redis' own command statistics
(and PostgreSQL statements per CreatePayment, from asyncpg's query logger).

After CONFIG RESETSTAT, INFO commandstats counts every command the private
Redis ran, including the commands the gate's script runs inside Redis (TIME,
GET, SET), so the round trips are counted with MONITOR, which tells the
commands clients sent from those a script ran. Each write must have cost
exactly one EVALSHA: the gate's rate limit and idempotency marker, and for a
new payment its risk velocity too (read and counted by the same script, right
after the marker), in one round trip (run with ``-s`` to see the figures).
Reads cost less: one EVALSHA per lease of read tokens (core/redis/read_leases.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.gate.limits import RateLimit
from core.redis.read_leases import lease_size
from tests.support.requests import create_request, new_merchant_id

from .conftest import GENEROUS, StartStack
from .stack import Stack

N = 50


async def round_trips(
    stack: Stack,
    calls: int,
    call: Callable[[], Awaitable[Any]],
    clocks_per_call: int = 1,
    *,
    scripts: int | None = None,
) -> float:
    """Redis round trips per call over ``calls`` sequential calls; all must be EVALSHA.

    ``clocks_per_call``: how often the script reads Redis' clock; once per call,
    a new payment included (its risk velocity, core/redis/velocity.py, uses the
    gate's reading). ``scripts``: the EVALSHAs expected (default: one per call).
    """
    scripts = calls if scripts is None else scripts

    async def run() -> None:
        for _ in range(calls):
            await call()

    await stack.admin.config_resetstat()
    counted = stack.stats.redis_round_trips
    sent = await stack.commands_sent(run)

    assert sent == ["EVALSHA"] * scripts, sorted(set(sent))
    # Redis' own count agrees: one script run each, no EVAL or SCRIPT LOAD.
    commandstats = await stack.redis_calls()
    assert (commandstats["evalsha"], commandstats["time"]) == (
        scripts,
        scripts * clocks_per_call,
    )
    assert not {"eval", "script"} & set(commandstats)
    assert stack.stats.redis_round_trips - counted == scripts
    return len(sent) / calls


async def test_one_redis_round_trip_per_create_and_per_lease_of_reads(
    private_stack: StartStack,
) -> None:
    # A lease lasts longer than N reads take even on a loaded machine: exactly
    # one EVALSHA per lease_size reads.
    limits = GENEROUS.model_copy(update={"reads_per_s": 1000, "reads_burst": 100})
    stack = await private_stack(rate_limits=limits)
    lease = lease_size(RateLimit(1000, 100))
    merchant = new_merchant_id()
    api = await stack.api(merchant)
    payment = await api.create()  # warm: the gate's connection is open

    async def create() -> None:
        assert (await stack.answer(merchant, create_request())).ok

    async def get() -> None:
        await api.get(payment.id)

    async def list_page() -> None:
        await api.list(page_size=10)

    per_create = await round_trips(stack, N, create)
    per_get = await round_trips(stack, N, get, scripts=N // lease)
    per_list = await round_trips(stack, N, list_page, scripts=N // lease)

    print(
        f"\nRedis round trips: {per_create:g} per CreatePayment,"
        f" {per_get:g} per GetPayment, {per_list:g} per ListPayments (N={N} each)"
    )
    # The gate's script with the payment's risk velocity riding along.
    assert per_create == 1
    assert per_get == per_list == 1 / lease


async def test_a_repeated_create_costs_one_round_trip_too(private_stack: StartStack) -> None:
    stack = await private_stack()
    merchant, request, first = await stack.first_create()

    async def repeat() -> None:
        assert await stack.answer(merchant, request) == first

    per_repeat = await round_trips(stack, N, repeat)

    print(f"\nRedis round trips: {per_repeat:g} per repeated CreatePayment (N={N})")
    assert per_repeat == 1


async def test_a_create_costs_two_postgresql_statements_both_group_committed(
    private_stack: StartStack,
) -> None:
    """PostgreSQL round trips of a CreatePayment, from asyncpg's query logger on the pool.

    Transaction 1 is one statement, shared with the other creates ready in the
    same loop turn (core/storage/claim_batch.py; alone here): the claim, the
    payment with its events and the attempt, committed by itself. Transaction
    2 (after the channel) too, shared the same way (core/storage/answer_batch.py):
    the attempt's outcome, the payment row (checked to be still as transaction
    1 wrote it), its events, the capture's posting (core/storage/ledger_append.py)
    and the stored reply, committed by itself. Before issue 18: 14 statements in
    all, 5 of transaction 1 and 4 of the ledger; before the answers' group
    commit, 7 (transaction 2 had its own 6); before it took one statement, 6
    (BEGIN, settle, read, write, COMMIT).
    """
    stack = await private_stack(pg_pool_min=1, pg_pool_max=1)
    statements = await statements_of_one_create(stack)

    claims = [query for query in statements if "INSERT INTO idempotency_keys" in query]
    answers = [query for query in statements if "UPDATE idempotency_keys" in query]
    print(
        f"\nPostgreSQL statements per CreatePayment: {len(claims) + len(answers)}, "
        f"{len(claims)} of transaction 1, {len(answers)} of transaction 2 (both group-committed)"
    )
    assert len(claims) == 1, claims
    assert "claimed AS" in claims[0]  # the group commit's statement, not a claim in a transaction
    assert len(answers) == 1, answers
    assert "answer_locked AS" in answers[0]  # the answers' group commit
    assert "ledger_moved AS" in answers[0]  # the capture's posting rides in it
    # Neither runs in a transaction of its own: no BEGIN ... COMMIT touches requests.
    assert _in_request_transactions(statements) == []


async def test_without_group_commit_a_create_costs_eleven_statements_in_two_transactions(
    private_stack: StartStack,
) -> None:
    """``pg_group_commit = false``: both transactions are the ordinary ones again.

    BEGIN, the claim, the payment row with its events, the attempt with the
    request record, COMMIT; then BEGIN, the lock carrying the attempt's
    outcome, the read, the capture's posting, the payment row with its events
    and the stored reply, COMMIT.
    """
    stack = await private_stack(pg_pool_min=1, pg_pool_max=1, pg_group_commit=False)
    assert stack.services.executor.claim_writer is None
    assert stack.services.executor.answer_writer is None
    ours = _in_request_transactions(await statements_of_one_create(stack))
    assert len(ours) == 11, ours
    assert len([query for query in ours if "ledger_" in query]) == 1
    assert ours.count("BEGIN;") == ours.count("COMMIT;") == 2


async def test_creates_ready_together_share_statements_and_each_is_answered_committed(
    private_stack: StartStack,
) -> None:
    stack = await private_stack()
    writer = stack.services.executor.claim_writer
    answer_writer = stack.services.executor.answer_writer
    assert writer is not None
    assert answer_writer is not None
    merchants = [new_merchant_id() for _ in range(16)]
    for merchant in merchants:  # warm: the merchants' keys, lists and connections
        assert (await stack.answer(merchant, create_request())).ok
    batches, claims = writer.batches, writer.claims
    answer_batches, answered = answer_writer.batches, answer_writer.answers

    answers = await asyncio.gather(
        *(stack.answer(m, create_request()) for m in merchants for _ in range(4))
    )

    assert all(answer.ok for answer in answers)
    sent = writer.claims - claims
    statements = writer.batches - batches
    answers_sent = answer_writer.answers - answered
    transactions = answer_writer.batches - answer_batches
    print(
        f"\n64 concurrent creates: {sent} claims in {statements} statements,"
        f" {answers_sent} channel answers in {transactions} statements"
    )
    assert sent == 64  # none fell back to a transaction of its own
    assert answers_sent == 64
    captured = await stack.services.pool.fetchval(
        "SELECT count(*) FROM payments WHERE merchant_id = ANY($1) AND state = 'captured'",
        merchants,
    )
    assert captured == 16 + 64


async def statements_of_one_create(stack: Stack) -> list[str]:
    """Every statement the stack's only pooled connection ran while one create was answered."""
    merchant = new_merchant_id()
    await stack.answer(merchant, create_request())  # warm: the connection exists
    statements: list[str] = []
    (holder,) = stack.services.pool._holders
    holder._con.add_query_logger(lambda record: statements.append(record.query))
    assert (await stack.answer(merchant, create_request())).ok
    return statements


def _in_request_transactions(statements: list[str]) -> list[str]:
    """The statements of the BEGIN ... COMMIT runs that touch request records.

    One connection: a transaction's statements are contiguous. Background
    pollers share it between the request's transactions; theirs never touch
    request records.
    """
    return [
        query
        for transaction in _transactions(statements)
        if any("idempotency_keys" in query for query in transaction)
        for query in transaction
    ]


def _transactions(statements: list[str]) -> list[list[str]]:
    """The BEGIN ... COMMIT runs of ``statements`` (statements outside them dropped)."""
    runs: list[list[str]] = []
    current: list[str] | None = None
    for query in statements:
        if query == "BEGIN;":
            current = [query]
        elif current is not None:
            current.append(query)
            if query == "COMMIT;":
                runs.append(current)
                current = None
    return runs
