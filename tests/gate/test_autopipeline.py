"""Concurrent requests' Redis commands leave as one pipeline per event-loop tick (issue 18),
and while one pipeline is out, the commands of the ticks that follow leave together after it.

Counted on both sides: the auto-pipeline's own counter, and Redis' INFO
(``total_reads_processed``: how many times the server read a client socket, so
one pipeline is one read however many scripts it carries; ``commandstats``:
every script still ran once). Each caller still gets exactly its own answer:
its reply, its error, or the error of a Redis that did not answer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.config import RateLimitSettings
from core.gate import Admission
from core.redis.autopipeline import AutoPipeline
from tests.support.redis_server import RedisServerHandle, free_port
from tests.support.requests import new_merchant_id

from .conftest import GateBackend, MakeGate
from .helpers import READS, WRITES, new_claim

REQUESTS = 50
UNLIMITED = RateLimitSettings(
    writes_per_s=1e6, writes_burst=REQUESTS, reads_per_s=1e6, reads_burst=REQUESTS
)


class ServerCounts:
    """Redis' own counts, read over one connection opened beforehand."""

    def __init__(self, server: RedisServerHandle) -> None:
        self._admin = server.client()
        self.reads()  # the connection's set-up commands are behind us

    def reads(self) -> int:
        """Times Redis read a client socket so far, this INFO's own read included."""
        return int(self._admin.info("stats")["total_reads_processed"])

    def evalsha_calls(self) -> int:
        calls = self._admin.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
        return int(calls)

    def close(self) -> None:
        self._admin.close()


async def test_concurrent_gate_calls_leave_as_one_pipeline_and_one_server_read(
    private_redis: RedisServerHandle, make_gate: MakeGate
) -> None:
    gate = await make_gate(GateBackend(private_redis.url, cluster=False), limits=UNLIMITED)
    merchant = new_merchant_id()
    await gate.admit(merchant, READS, None)  # warm: the pool's connection is open
    counts = ServerCounts(private_redis)
    try:
        scripts_before, reads_before = counts.evalsha_calls(), counts.reads()
        pipelines_before = gate.pipeline.stats.pipelines

        admissions = await asyncio.gather(
            *(gate.admit(merchant, WRITES, new_claim()) for _ in range(REQUESTS))
        )

        reads = counts.reads() - reads_before - 1  # less the INFO's own read
        scripts = counts.evalsha_calls() - scripts_before
    finally:
        counts.close()

    assert admissions == [Admission.NEW] * REQUESTS
    assert gate.pipeline.stats.pipelines - pipelines_before == 1
    assert gate.pipeline.stats.largest == REQUESTS
    assert scripts == REQUESTS  # each script ran
    # One socket read for the 50 scripts (sent one by one, that is 50 reads);
    # a second one only if the kernel split the pipeline's bytes.
    assert reads <= 2


async def test_calls_one_after_the_other_are_one_pipeline_each(
    gate_backend: GateBackend, make_gate: MakeGate
) -> None:
    gate = await make_gate(gate_backend, limits=UNLIMITED)
    merchant = new_merchant_id()
    before = gate.pipeline.stats.pipelines

    for _ in range(3):
        assert await gate.admit(merchant, WRITES, new_claim()) is Admission.NEW

    assert gate.pipeline.stats.pipelines - before == 3  # nothing waits for company


async def test_a_commands_error_reaches_its_caller_alone(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    pipeline = AutoPipeline(client)
    text, counter = f"t_{uuid.uuid4().hex}", f"c_{uuid.uuid4().hex}"
    try:
        await client.set(text, "not a number", ex=60)
        replies = await asyncio.gather(
            pipeline.execute("INCR", counter),
            pipeline.execute("INCR", text),  # ERR value is not an integer
            pipeline.execute("INCR", counter),
            return_exceptions=True,
        )
        await client.delete(counter)
    finally:
        await client.aclose()

    assert pipeline.stats.pipelines == 1
    first, failed, last = replies
    assert (first, last) == (1, 2)
    assert isinstance(failed, ResponseError)


async def test_a_cancelled_caller_is_not_sent_and_its_batch_is_answered(redis_url: str) -> None:
    client = aioredis.from_url(redis_url)
    pipeline = AutoPipeline(client)
    kept, dropped = f"k_{uuid.uuid4().hex}", f"d_{uuid.uuid4().hex}"
    try:
        first = asyncio.create_task(pipeline.execute("INCR", kept))
        cancelled = asyncio.create_task(pipeline.execute("INCR", dropped))
        last = asyncio.create_task(pipeline.execute("INCR", kept))
        await asyncio.sleep(0)  # all three have queued; the batch leaves after this tick
        cancelled.cancel()

        assert (await first, await last) == (1, 2)
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await client.exists(dropped) == 0  # never sent
        await client.delete(kept)
    finally:
        await client.aclose()
    assert pipeline.stats.commands == 2


async def test_a_caller_cancelled_in_flight_leaves_the_others_their_replies(
    redis_url: str,
) -> None:
    client = aioredis.from_url(redis_url)
    pipeline = AutoPipeline(client)
    key = f"k_{uuid.uuid4().hex}"
    try:
        tasks = [asyncio.create_task(pipeline.execute("INCR", key)) for _ in range(10)]
        # Until the batch has left (its task counts it before sending): a few ticks.
        while pipeline.stats.pipelines == 0:  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0)
        tasks[4].cancel()

        answered = [await task for i, task in enumerate(tasks) if i != 4]
        await pipeline.drain()
        count = int(await client.get(key) or 0)
        await client.delete(key)
    finally:
        await client.aclose()

    # Sent before the cancellation: Redis ran all ten; the others got theirs.
    assert count == 10
    assert sorted(answered) == [n for n in range(1, 11) if n in answered]
    assert len(set(answered)) == 9
    assert tasks[4].cancelled()


async def test_with_redis_down_every_caller_gets_the_error_a_direct_call_gets() -> None:
    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=1)
    pipeline = AutoPipeline(client)
    try:
        outcomes = await asyncio.gather(
            *(pipeline.execute("GET", f"k{i}") for i in range(5)), return_exceptions=True
        )
        with pytest.raises(RedisConnectionError) as direct:
            await client.get("k")
    finally:
        await client.aclose()

    assert Counter(type(outcome) for outcome in outcomes) == Counter({type(direct.value): 5})


async def test_a_script_redis_forgot_is_loaded_again_for_a_whole_batch(
    private_redis: RedisServerHandle, make_gate: MakeGate
) -> None:
    gate = await make_gate(GateBackend(private_redis.url, cluster=False), limits=UNLIMITED)
    merchant = new_merchant_id()
    with private_redis.client() as admin:
        admin.script_flush()

    admissions = await asyncio.gather(
        *(gate.admit(merchant, WRITES, new_claim()) for _ in range(5))
    )

    assert admissions == [Admission.NEW] * 5  # NOSCRIPT went to each caller, who reloaded
    assert gate.stats.redis_failures == 0


async def test_commands_queued_while_a_pipeline_is_out_leave_together_after_it(
    private_redis: RedisServerHandle,
) -> None:
    client = aioredis.from_url(private_redis.url)
    pipeline = AutoPipeline(client)
    key = f"k_{uuid.uuid4().hex}"
    try:
        await client.ping()  # connected before Redis is paused
        private_redis.pause()  # the first pipeline stays out until resume()
        try:
            first = asyncio.create_task(pipeline.execute("INCR", key))
            while pipeline.stats.pipelines == 0:  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(0)
            later = []
            for _ in range(10):  # one per tick
                later.append(asyncio.create_task(pipeline.execute("INCR", key)))
                await asyncio.sleep(0)
            assert pipeline.stats.pipelines == 1  # none left while the first was out
        finally:
            private_redis.resume()
        replies = [await first] + [await task for task in later]
    finally:
        await client.aclose()

    assert replies == list(range(1, 12))  # in order: the pipeline keeps it
    assert pipeline.stats.pipelines == 2
    assert pipeline.stats.largest == 10


async def test_a_pipeline_timing_out_fails_the_commands_queued_behind_it_too(
    private_redis: RedisServerHandle,
) -> None:
    client = aioredis.from_url(private_redis.url, socket_timeout=0.5)
    pipeline = AutoPipeline(client)
    try:
        await client.ping()
        private_redis.pause()
        try:
            first = asyncio.create_task(pipeline.execute("GET", "k"))
            while pipeline.stats.pipelines == 0:  # noqa: ASYNC110 (no event to wait on)
                await asyncio.sleep(0)
            behind = [asyncio.create_task(pipeline.execute("GET", "k")) for _ in range(3)]
            outcomes = await asyncio.gather(first, *behind, return_exceptions=True)
        finally:
            private_redis.resume()
    finally:
        await client.aclose()

    assert all(isinstance(outcome, RedisTimeoutError) for outcome in outcomes), outcomes
    assert pipeline.stats.pipelines == 1  # those behind were not sent to time out again
