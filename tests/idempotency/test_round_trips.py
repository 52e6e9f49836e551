"""Measured: Redis round trips per request, from Redis' own command statistics.

After CONFIG RESETSTAT, INFO commandstats counts every command the private
Redis ran, including the commands the gate's script runs inside Redis (TIME,
GET, SET), so the round trips are counted with MONITOR, which tells the
commands clients sent from those a script ran. Each request must have cost
exactly one EVALSHA: the gate's rate limit and idempotency marker in one round
trip (run with ``-s`` to see the figures).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.e2e.helpers import create_request

from .conftest import StartStack
from .stack import Stack, new_merchant

N = 50


async def round_trips(stack: Stack, calls: int, call: Callable[[], Awaitable[Any]]) -> float:
    """Redis round trips per call over ``calls`` sequential calls; all must be EVALSHA."""

    async def run() -> None:
        for _ in range(calls):
            await call()

    await stack.admin.config_resetstat()
    counted = stack.stats.redis_round_trips
    sent = await stack.commands_sent(run)

    assert sent == ["EVALSHA"] * calls, sorted(set(sent))
    # Redis' own count agrees: one script run (one TIME) per EVALSHA, no EVAL or SCRIPT LOAD.
    commandstats = await stack.redis_calls()
    assert (commandstats["evalsha"], commandstats["time"]) == (calls, calls)
    assert not {"eval", "script"} & set(commandstats)
    assert stack.stats.redis_round_trips - counted == calls
    return len(sent) / calls


async def test_one_redis_round_trip_per_create_and_per_read(private_stack: StartStack) -> None:
    stack = await private_stack()
    merchant = new_merchant()
    api = await stack.api(merchant)
    payment = await api.create()  # warm: the gate's connection is open

    async def create() -> None:
        assert (await stack.answer(merchant, create_request())).ok

    async def get() -> None:
        await api.get(payment.id)

    async def list_page() -> None:
        await api.list(page_size=10)

    per_create = await round_trips(stack, N, create)
    per_get = await round_trips(stack, N, get)
    per_list = await round_trips(stack, N, list_page)

    print(
        f"\nRedis round trips: {per_create:g} per CreatePayment,"
        f" {per_get:g} per GetPayment, {per_list:g} per ListPayments (N={N} each)"
    )
    assert per_create == per_get == per_list == 1


async def test_a_repeated_create_costs_one_round_trip_too(private_stack: StartStack) -> None:
    stack = await private_stack()
    merchant, request, first = await stack.first_create()

    async def repeat() -> None:
        assert await stack.answer(merchant, request) == first

    per_repeat = await round_trips(stack, N, repeat)

    print(f"\nRedis round trips: {per_repeat:g} per repeated CreatePayment (N={N})")
    assert per_repeat == 1
