"""A paycore server with a Redis of its own, and what the idempotency tests check on it.

``Stack`` is what the ``private_stack`` fixture (conftest.py) returns: an
in-process PaycoreServer on the suite's PostgreSQL and on a private Redis that
a test may flush, stop and start again without touching anyone else's.

``Answer`` is one call's outcome as bytes: the response exactly as it left the
server, or the google.rpc.Status of an error exactly as it was sent. Two
answers are equal only if they are byte-for-byte the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
import redis.asyncio as aioredis
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from core.api.server import PaycoreServer
from core.app import Services
from core.config import Settings
from core.redis.request_gate import GateStats
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc
from tests.support.api import Api
from tests.support.auth import Metadata, merchant_metadata
from tests.support.redis_cluster import RedisServerHandle
from tests.support.requests import create_request, new_request_id, wire

SERVICE = "/paycore.v1.PaymentService"
DETAILS_KEY = "grpc-status-details-bin"
ABORTED = grpc.StatusCode.ABORTED
OK = grpc.StatusCode.OK


def new_merchant() -> str:
    """A merchant id nobody else uses."""
    return f"m_{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class Answer:
    """One call's outcome, as the bytes that were sent (response, or error status)."""

    code: grpc.StatusCode
    body: bytes

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.code == OK

    @property
    def status(self) -> status_pb2.Status:
        """The error's google.rpc.Status (only for failed calls)."""
        assert not self.ok, "a successful call has no status"
        return status_pb2.Status.FromString(self.body)

    def details(self, kind: type[Any]) -> list[Any]:
        """The error details of one type."""
        found = []
        for detail in self.status.details:
            if detail.Is(kind.DESCRIPTOR):
                message = kind()
                detail.Unpack(message)
                found.append(message)
        return found

    @property
    def reason(self) -> str:
        """The ErrorInfo reason of a failed call."""
        (info,) = self.details(error_details_pb2.ErrorInfo)
        return str(info.reason)

    @property
    def retry_delay_s(self) -> float | None:
        """The RetryInfo delay, or None without RetryInfo."""
        infos = self.details(error_details_pb2.RetryInfo)
        return infos[0].retry_delay.ToTimedelta().total_seconds() if infos else None

    def response(self, kind: type[Any]) -> Any:
        """The successful response, parsed."""
        assert self.ok, f"call failed: {self.code} {self.status.message}"
        return kind.FromString(self.body)

    def is_in_progress(self) -> bool:
        """ABORTED REQUEST_IN_PROGRESS with a RetryInfo: the documented answer to a repeat
        of a request that is still executing."""
        return (
            self.code == ABORTED
            and self.reason == "REQUEST_IN_PROGRESS"
            and (self.retry_delay_s or 0) > 0
        )

    def __repr__(self) -> str:
        if self.ok:
            return f"Answer(OK, {len(self.body)} bytes)"
        return f"Answer({self.code.name}, {self.reason})"


def rpc_name(request: Message) -> str:
    """The RPC a request message belongs to (CreatePaymentRequest -> CreatePayment)."""
    return request.DESCRIPTOR.name.removesuffix("Request")


async def answer_of(
    channel: grpc.aio.Channel, metadata: Metadata, request: Message, deadline_s: float | None = None
) -> Answer:
    """Send ``request`` (a PaymentService request) and return the exact bytes that came back.

    An error without a rich status (one from the transport: UNAVAILABLE while nothing
    listens, DEADLINE_EXCEEDED) has an empty body.
    """
    method = channel.unary_unary(
        f"{SERVICE}/{rpc_name(request)}", request_serializer=None, response_deserializer=None
    )
    try:
        body = await method(wire(request), metadata=metadata, timeout=deadline_s)
    except grpc.aio.AioRpcError as error:
        trailers: Any = error.trailing_metadata() or ()
        status = dict(trailers).get(DETAILS_KEY)
        return Answer(error.code(), status if isinstance(status, bytes) else b"")
    return Answer(OK, body)


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
    merchant: str = dataclasses.field(default_factory=new_merchant)
    """A merchant of this stack's own (tests may add others with new_merchant())."""
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


def single_reply(answers: Iterable[Answer]) -> Answer:
    """The one successful answer of a batch of repeats; every other one is byte-identical
    to it or REQUEST_IN_PROGRESS (ABORTED + RetryInfo)."""
    answers = list(answers)
    successes = {a for a in answers if a.ok}
    assert len(successes) == 1, f"expected one distinct reply, got {len(successes)}"
    (reply,) = successes
    strays = [a for a in answers if a != reply and not a.is_in_progress()]
    assert not strays, strays
    return reply


class RowLock:
    """Hold ``SELECT ... FOR UPDATE`` on rows of the server's PostgreSQL until closed.

    A request that must write (or lock) those rows waits for the lock; one that
    only reads them does not. Tests use it to see which path a request took
    and to keep a request in flight.
    """

    def __init__(self, db: asyncpg.Pool, query: str, *args: Any) -> None:
        self._db, self._query, self._args = db, query, args
        self._connection: Any = None
        self._transaction: Any = None

    async def __aenter__(self) -> RowLock:
        self._connection = await self._db.acquire()
        self._transaction = self._connection.transaction()
        await self._transaction.start()
        rows = await self._connection.fetch(self._query + " FOR UPDATE", *self._args)
        assert rows, f"nothing to lock: {self._query} {self._args}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._transaction.rollback()
        await self._db.release(self._connection)


def idempotency_row(db: asyncpg.Pool, merchant_id: str, request: Message) -> RowLock:
    """A lock on the PostgreSQL record of one request_id."""
    return RowLock(
        db,
        "SELECT 1 FROM idempotency_keys"
        " WHERE merchant_id = $1 AND operation = $2 AND request_id = $3",
        merchant_id,
        rpc_name(request),
        request.request_id,  # type: ignore[attr-defined]
    )


def payment_row(db: asyncpg.Pool, merchant_id: str, payment_id: str) -> RowLock:
    """A lock on one payment: mutations of it wait until the lock is gone."""
    return RowLock(
        db, "SELECT 1 FROM payments WHERE merchant_id = $1 AND id = $2", merchant_id, payment_id
    )


async def still_waiting(call: Awaitable[Any], for_s: float = 0.4) -> asyncio.Task[Any]:
    """Start ``call``; assert it has not finished after ``for_s``; return its task."""
    task = asyncio.ensure_future(call)
    await asyncio.sleep(for_s)
    assert not task.done(), f"expected the call to wait, it answered {task.result()!r}"
    return task


CREATE = svc.CreatePaymentResponse
