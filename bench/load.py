"""Closed-loop CreatePayment load, run in a process of its own.

The generator must not share the server's event loop (or its GIL): ``run_load``
is the entry point of a spawned process. Each of the tasks is one
merchant (one API key) sending CreatePayment (automatic capture, sandbox Visa) and waiting for
the answer before sending the next, over a few shared gRPC channels.

Only calls that *complete* inside the measured window count, after a warm-up in
which channels connect and pools fill; the window's completions per second are the
throughput.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import grpc
from google.type import money_pb2

from core.auth.policy import Role
from core.runtime.loop import run
from core.storage.access import issue_key
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc

SANDBOX_VISA = "4242424242424242"
"""Always authorized and captured by the sandbox channel (router/channels/sandbox.py)."""
TASKS_PER_CHANNEL = 8
"""grpc multiplexes calls on one HTTP/2 connection; a few connections spread the work."""
MAX_CHANNELS = 4
CALL_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one load run measured inside its window."""

    ok: int
    """Calls answered OK."""
    errors: dict[str, int]
    """Failed calls by gRPC status code name."""
    window_s: float
    latencies_s: tuple[float, ...]
    """Latency of every OK call, in seconds."""

    @property
    def throughput(self) -> float:
        """OK calls per second."""
        return self.ok / self.window_s


def latency_percentiles_ms(latencies_s: tuple[float, ...]) -> tuple[float, float, float]:
    """p50, p95 and p99 in milliseconds (NaN without at least two samples)."""
    if len(latencies_s) < 2:
        return float("nan"), float("nan"), float("nan")
    cuts = statistics.quantiles(latencies_s, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def create_payment_request() -> svc.CreatePaymentRequest:
    """10.00 USD on the sandbox Visa, captured at once, with a fresh request_id."""
    return svc.CreatePaymentRequest(
        request_id=str(uuid.uuid4()),
        amount=money_pb2.Money(currency_code="USD", units=10),
        capture_method=pb.CAPTURE_METHOD_AUTOMATIC,
        payment_method=pb.PaymentMethodData(
            card=pb.CardData(
                number=SANDBOX_VISA,
                exp_month=12,
                exp_year=datetime.now(UTC).year + 3,
                cvc="123",
                holder_name="Bench Mark",
            )
        ),
    )


def load_process_ready() -> int:
    """A no-op run in the load process first, so its imports happen before any timing."""
    return os.getpid()


async def issue_bench_keys(pool: asyncpg.Pool, merchant_prefix: str, count: int) -> list[str]:
    """A merchant key for each merchant ``{merchant_prefix}_{i}`` (created; raw cards allowed)."""
    keys = []
    async with pool.acquire() as connection:
        for index in range(count):
            merchant_id = f"{merchant_prefix}_{index}"
            issued = await issue_key(
                connection,
                role=Role.MERCHANT,
                merchant_id=merchant_id,
                description="bench",
                merchant_name=merchant_id,
                raw_card_data_allowed=True,  # the load pays with the sandbox's test card
            )
            keys.append(issued.secret)
    return keys


def run_load(
    target: str, *, seconds: float, warmup_s: float, api_keys: Sequence[str]
) -> LoadResult:
    """Send CreatePayment from one task per API key for ``warmup_s + seconds``.

    ``target`` is ``host:port``; ``issue_bench_keys`` makes the keys (one per merchant).
    """
    return run(_load(target, seconds, warmup_s, tuple(api_keys)), use_uvloop=True)


@dataclass(slots=True)
class _Tally:
    measure_from: float
    until: float
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)

    def add(self, started: float, finished: float, code: str) -> None:
        if not self.measure_from <= finished <= self.until:
            return
        if code == "OK":
            self.ok += 1
            self.latencies_s.append(finished - started)
        else:
            self.errors[code] += 1


async def _load(
    target: str, seconds: float, warmup_s: float, api_keys: Sequence[str]
) -> LoadResult:
    concurrency = len(api_keys)
    count = max(1, min(MAX_CHANNELS, concurrency // TASKS_PER_CHANNEL))
    channels = [grpc.aio.insecure_channel(target) for _ in range(count)]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(channel.channel_ready() for channel in channels)), CALL_TIMEOUT_S
        )
        stubs = [payment_service_pb2_grpc.PaymentServiceStub(channel) for channel in channels]
        measure_from = time.perf_counter() + warmup_s
        tally = _Tally(measure_from=measure_from, until=measure_from + seconds)
        await asyncio.gather(
            *(
                _merchant_loop(stubs[task % count], api_keys[task], tally)
                for task in range(concurrency)
            )
        )
    finally:
        for channel in channels:
            await channel.close(None)
    return LoadResult(
        ok=tally.ok,
        errors=dict(tally.errors),
        window_s=seconds,
        latencies_s=tuple(tally.latencies_s),
    )


async def _merchant_loop(
    stub: payment_service_pb2_grpc.PaymentServiceAsyncStub, api_key: str, tally: _Tally
) -> None:
    metadata = (("authorization", f"Bearer {api_key}"),)
    while (started := time.perf_counter()) < tally.until:
        try:
            await stub.CreatePayment(
                create_payment_request(), metadata=metadata, timeout=CALL_TIMEOUT_S
            )
            code = "OK"
        except grpc.aio.AioRpcError as error:
            code = error.code().name
        tally.add(started, time.perf_counter(), code)
