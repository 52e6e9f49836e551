"""A paycore server with a Redis of its own, and what the idempotency tests check on it.

``Stack`` is what the ``private_stack`` fixture (conftest.py) returns: an
in-process PaycoreServer on the suite's PostgreSQL and on a private Redis that
a test may flush, stop and start again without touching anyone else's.

Its calls answer ``Answer`` (tests/support/answers.py), the exact bytes that came back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import redis.asyncio as aioredis
from google.protobuf.message import Message

from core.api.server import PaycoreServer
from core.app import Services
from core.config import Settings
from core.redis.request_gate import GateStats
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc
from tests.support.answers import Answer, answer_of
from tests.support.api import Api
from tests.support.auth import Metadata, merchant_metadata
from tests.support.redis_server import RedisServerHandle
from tests.support.requests import create_request, new_merchant_id, new_request_id
from tests.support.row_locks import idempotency_row, still_waiting


@dataclass
class Stack:
    """A paycore server on the shared PostgreSQL and a private Redis."""

    settings: Settings
    services: Services
    server: PaycoreServer
    channel: grpc.aio.Channel
    stub: payment_service_pb2_grpc.PaymentServiceStub
    redis: RedisServerHandle
    admin: aioredis.Redis
    """A client of the private Redis, for FLUSHALL, INFO and looking at keys."""
    db: asyncpg.Pool
    """The server's PostgreSQL, to check what was committed."""
    merchant: str = dataclasses.field(default_factory=new_merchant_id)
    """A merchant of this stack's own (tests may add others with new_merchant_id())."""
    keys: dict[str, Metadata] = dataclasses.field(default_factory=dict)
    """Call metadata (an API key) of each merchant used so far."""

    @property
    def stats(self) -> GateStats:
        """The gate's counters (round trips, failures, fail-open decisions, refusals)."""
        return self.services.gate.stats

    async def metadata(self, merchant_id: str) -> Metadata:
        """Call metadata with an API key of ``merchant_id`` (issued on first use)."""
        if merchant_id not in self.keys:
            self.keys[merchant_id] = await merchant_metadata(self.db, merchant_id)
        return self.keys[merchant_id]

    async def api(self, merchant_id: str) -> Api:
        """One merchant's view of the API (tests/support/api.py)."""
        return Api(self.stub, merchant_id, await self.metadata(merchant_id))

    async def answer(self, merchant_id: str, request: Message) -> Answer:
        """Send ``request`` as ``merchant_id`` and return the exact bytes that came back."""
        answer = await answer_of(self.channel, await self.metadata(merchant_id), request)
        assert answer.ok or answer.body, f"no rich status on {answer.code}"
        return answer

    async def first_create(self, **fields: Any) -> tuple[str, svc.CreatePaymentRequest, Answer]:
        """(merchant, request, answer) of a create the stack's merchant made, answered OK."""
        request = create_request(**fields)
        answer = await self.answer(self.merchant, request)
        assert answer.ok, answer
        return self.merchant, request, answer

    async def capture_to_send(self) -> tuple[str, svc.CapturePaymentRequest]:
        """(merchant, request): a capture of a fresh authorized payment, not sent yet."""
        payment = await (await self.api(self.merchant)).authorized()
        return self.merchant, svc.CapturePaymentRequest(
            request_id=new_request_id(), payment_id=payment.id
        )

    async def assert_executed_once(self, merchant_id: str) -> None:
        """The merchant has exactly one payment, and the channel was called once."""
        assert await self.count("payments", merchant_id) == 1
        assert await self.count("channel_attempts", merchant_id) == 1

    async def via_postgresql(self, merchant_id: str, request: Message) -> Answer:
        """Send ``request`` while its request_id's PostgreSQL record is locked: it must wait
        for the lock (PostgreSQL's claim decides it), then answer."""
        async with idempotency_row(self.db, merchant_id, request):
            waiting = await still_waiting(self.answer(merchant_id, request))
        return await waiting

    async def via_redis(self, merchant_id: str, request: Message) -> Answer:
        """Send ``request`` while its request_id's PostgreSQL record is locked: it must be
        answered without waiting (Redis' marker decided it: SEEN or CONFLICT)."""
        async with idempotency_row(self.db, merchant_id, request):
            return await asyncio.wait_for(self.answer(merchant_id, request), 5)

    async def answers(self, merchant_id: str, request: Message, times: int) -> list[Answer]:
        """``times`` identical calls at once."""
        return list(
            await asyncio.gather(*(self.answer(merchant_id, request) for _ in range(times)))
        )

    async def count(self, table: str, merchant_id: str, **equal: Any) -> int:
        """Rows of ``table`` for the merchant whose columns have the given values."""
        conditions = ["merchant_id = $1", *(f"{c} = ${i}" for i, c in enumerate(equal, 2))]
        query = f"SELECT count(*) FROM {table} WHERE {' AND '.join(conditions)}"
        found: int = await self.db.fetchval(query, merchant_id, *equal.values())
        return found

    async def redis_calls(self) -> dict[str, int]:
        """Calls per command since the last CONFIG RESETSTAT (INFO commandstats).

        These include the commands a script runs (redis.call), not only those sent.
        """
        info = await self.admin.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}

    async def commands_sent(self, during: Callable[[], Awaitable[object]]) -> list[str]:
        """The commands clients sent to Redis while ``during()`` ran, in order (MONITOR).

        Each is one round trip; what scripts ran inside Redis is left out.
        """
        sent: list[tuple[str, str]] = []  # (client port, command)
        last = f"end-{uuid.uuid4().hex}"
        async with self.admin.monitor() as monitor:

            async def read() -> str:
                while True:
                    entry = await monitor.next_command()
                    if entry["client_type"] == "lua":
                        continue
                    name, _, rest = entry["command"].partition(" ")
                    if rest == last:
                        return entry["client_port"]
                    sent.append((entry["client_port"], name.upper()))

            reader = asyncio.ensure_future(read())
            await during()
            await self.admin.echo(last)
            own = await asyncio.wait_for(reader, 10)  # this test's connection: left out
        return [name for port, name in sent if port != own]


CREATE = svc.CreatePaymentResponse
