"""Load of one scenario (bench/scenarios.py), closed or open loop, in a process of its own.

The generator must not share the server's event loop (or its GIL): ``run_load``
and ``run_open_load`` are entry points of a spawned process.

Closed loop (``run_load``, the peak): each of the tasks is one merchant (one API key)
sending its scenario's call (by default CreatePayment, automatic capture, sandbox
Visa) and waiting for the answer before sending the next, over a few shared gRPC
channels. Only calls that *complete* inside the measured window count, after a
warm-up in which channels connect and pools fill; the window's completions per
second are the throughput.

Open loop (``run_open_load``, latency at a given load): requests, built before the
run, leave on a fixed schedule (``rate`` per second) whether or not earlier ones were
answered, and each call's latency runs from its *scheduled* send time. A server (or a
generator) that stalls therefore shows the stall in every call that should have
been sent meanwhile, instead of sending fewer calls and hiding it (coordinated
omission). Calls scheduled inside the window count, however late they finish.

Both report the generator's own CPU time in the window, so a run shows whether the
generator was close to a core (and so possibly the bottleneck), and the window's
wall-clock bounds, so a caller can read a server's CPU over the same window.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg
import grpc
from google.protobuf.message import Message

from bench.scenarios import Context, build_request, call
from core.auth.policy import Role
from core.runtime.loop import run
from core.storage.access import issue_key
from paycore.v1 import payment_service_pb2_grpc

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
    generator_cpu_s: float = 0.0
    """CPU time the generator used in its window (summed over its processes)."""
    send_lag_p99_s: float = 0.0
    """Open loop: p99 of how late calls left against their schedule (0 for closed loop)."""
    window_start: float = 0.0
    """When the window began, seconds since the epoch (the earliest, over processes)."""
    window_end: float = 0.0
    """When it ended (the latest, over processes): server CPU is read over these bounds."""
    total_ok: int = 0
    """Calls answered OK over the whole run, warm-up included: what server-side counters
    read around the run (commits, statements) are divided by."""

    @property
    def throughput(self) -> float:
        """OK calls per second."""
        return self.ok / self.window_s

    @property
    def generator_cores(self) -> float:
        """Cores the generator kept busy in its window (1.0 per process: it set the pace)."""
        return self.generator_cpu_s / self.window_s


def merge_results(parts: Sequence[LoadResult]) -> LoadResult:
    """One result of runs made in parallel over the same window (one per generator process)."""
    errors: Counter[str] = Counter()
    for part in parts:
        errors.update(part.errors)
    return LoadResult(
        ok=sum(p.ok for p in parts),
        errors=dict(errors),
        window_s=max(p.window_s for p in parts),
        latencies_s=tuple(lat for p in parts for lat in p.latencies_s),
        generator_cpu_s=sum(p.generator_cpu_s for p in parts),
        send_lag_p99_s=max(p.send_lag_p99_s for p in parts),
        window_start=min(p.window_start for p in parts),
        window_end=max(p.window_end for p in parts),
        total_ok=sum(p.total_ok for p in parts),
    )


def latency_percentiles_ms(latencies_s: tuple[float, ...]) -> tuple[float, float, float]:
    """p50, p95 and p99 in milliseconds (NaN without at least two samples)."""
    if len(latencies_s) < 2:
        return float("nan"), float("nan"), float("nan")
    cuts = statistics.quantiles(latencies_s, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


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


@dataclass(frozen=True, slots=True)
class Workload:
    """What the calls are: a scenario and, per API key, what its requests refer to."""

    api_keys: tuple[str, ...]
    scenario: str = "create"
    contexts: tuple[Context, ...] = ()
    """One per API key (same order), from ``bench.scenarios.prepare``; empty for ``create``."""

    def request(self, index: int) -> Message:
        """A request of the caller ``index`` (an index into ``api_keys``)."""
        context = self.contexts[index % len(self.contexts)] if self.contexts else Context()
        return build_request(self.scenario, context)

    def metadata(self, index: int) -> tuple[tuple[str, str], ...]:
        """The caller's credentials."""
        return (("authorization", f"Bearer {self.api_keys[index % len(self.api_keys)]}"),)


def run_load(
    target: str,
    *,
    seconds: float,
    warmup_s: float,
    api_keys: Sequence[str],
    scenario: str = "create",
    contexts: Sequence[Context] = (),
) -> LoadResult:
    """Send ``scenario``'s call from one task per API key for ``warmup_s + seconds``.

    ``target`` is ``host:port``; ``issue_bench_keys`` makes the keys (one per merchant).
    """
    work = Workload(tuple(api_keys), scenario, tuple(contexts))
    return run(_load(target, seconds, warmup_s, work), use_uvloop=True)


def run_open_load(
    target: str,
    *,
    rate: float,
    seconds: float,
    warmup_s: float,
    api_keys: Sequence[str],
    scenario: str = "create",
    contexts: Sequence[Context] = (),
) -> LoadResult:
    """Send ``scenario``'s call at ``rate`` per second for ``warmup_s + seconds``, open loop.

    Calls go round robin over ``api_keys``; latency is from each call's scheduled time.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    work = Workload(tuple(api_keys), scenario, tuple(contexts))
    return run(_open_load(target, rate, seconds, warmup_s, work), use_uvloop=True)


@dataclass(slots=True)
class _Tally:
    measure_from: float
    until: float
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    cpu_from: float = 0.0
    cpu_until: float = 0.0
    total_ok: int = 0

    async def watch_cpu(self) -> None:
        """This process's CPU time at the window's two ends (not its start-up or warm-up)."""
        await asyncio.sleep(max(0.0, self.measure_from - time.perf_counter()))
        self.cpu_from = self.cpu_until = time.process_time()
        await asyncio.sleep(max(0.0, self.until - time.perf_counter()))
        self.cpu_until = time.process_time()

    def add(self, started: float, counted_at: float, code: str, finished: float = 0.0) -> None:
        """Count a call if ``counted_at`` is in the window; latency to ``finished`` (or it)."""
        self.total_ok += code == "OK"
        if not self.measure_from <= counted_at <= self.until:
            return
        if code == "OK":
            self.ok += 1
            self.latencies_s.append((finished or counted_at) - started)
        else:
            self.errors[code] += 1

    def result(self, send_lag_p99_s: float = 0.0) -> LoadResult:
        to_epoch = time.time() - time.perf_counter()
        return LoadResult(
            ok=self.ok,
            errors=dict(self.errors),
            window_s=self.until - self.measure_from,
            latencies_s=tuple(self.latencies_s),
            generator_cpu_s=self.cpu_until - self.cpu_from,
            send_lag_p99_s=send_lag_p99_s,
            window_start=self.measure_from + to_epoch,
            window_end=self.until + to_epoch,
            total_ok=self.total_ok,
        )


@asynccontextmanager
async def _stubs(
    target: str, callers: int
) -> AsyncIterator[list[payment_service_pb2_grpc.PaymentServiceAsyncStub]]:
    """Stubs over a few connected channels (one per TASKS_PER_CHANNEL callers)."""
    count = max(1, min(MAX_CHANNELS, callers // TASKS_PER_CHANNEL))
    channels = [grpc.aio.insecure_channel(target) for _ in range(count)]
    try:
        await asyncio.wait_for(
            asyncio.gather(*(channel.channel_ready() for channel in channels)), CALL_TIMEOUT_S
        )
        yield [payment_service_pb2_grpc.PaymentServiceStub(channel) for channel in channels]
    finally:
        for channel in channels:
            await channel.close(None)


async def _load(target: str, seconds: float, warmup_s: float, work: Workload) -> LoadResult:
    async with _stubs(target, len(work.api_keys)) as stubs:
        measure_from = time.perf_counter() + warmup_s
        tally = _Tally(measure_from=measure_from, until=measure_from + seconds)
        await asyncio.gather(
            tally.watch_cpu(),
            *(
                _merchant_loop(stubs[task % len(stubs)], work, task, tally)
                for task in range(len(work.api_keys))
            ),
        )
    return tally.result()


async def _merchant_loop(
    stub: payment_service_pb2_grpc.PaymentServiceAsyncStub,
    work: Workload,
    task: int,
    tally: _Tally,
) -> None:
    metadata = work.metadata(task)
    while (started := time.perf_counter()) < tally.until:
        code = await call(stub, work.scenario, work.request(task), metadata)
        tally.add(started, time.perf_counter(), code)


async def _open_load(
    target: str, rate: float, seconds: float, warmup_s: float, work: Workload
) -> LoadResult:
    async with _stubs(target, len(work.api_keys)) as stubs:
        interval = 1.0 / rate
        total = int((warmup_s + seconds) * rate)
        # Built before the clock starts: the schedule must not wait on protobuf.
        requests = [(work.request(i), work.metadata(i)) for i in range(total)]
        start = time.perf_counter() + 0.05
        measure_from = start + warmup_s
        tally = _Tally(measure_from=measure_from, until=measure_from + seconds)
        watcher = asyncio.create_task(tally.watch_cpu())
        lags: list[float] = []
        calls: set[asyncio.Task[None]] = set()
        sent = 0
        while sent < total:
            now = time.perf_counter()
            # Everything due by now leaves now: a late wake-up (timer granularity, a
            # busy loop) sends a burst rather than fewer calls, and its delay counts
            # in those calls' latency because they are timed from their schedule.
            while sent < total and (scheduled := start + sent * interval) <= now:
                call = asyncio.create_task(
                    _scheduled_call(
                        stubs[sent % len(stubs)], work.scenario, requests[sent], scheduled, tally
                    )
                )
                calls.add(call)
                call.add_done_callback(calls.discard)
                if scheduled >= measure_from:
                    lags.append(now - scheduled)
                sent += 1
            if sent < total:
                await asyncio.sleep(max(0.0, start + sent * interval - time.perf_counter()))
        await watcher
        if calls:
            await asyncio.wait(calls, timeout=CALL_TIMEOUT_S)
    lag_p99_s = latency_percentiles_ms(tuple(lags))[2] / 1000 if len(lags) > 1 else 0.0
    return tally.result(send_lag_p99_s=lag_p99_s)


async def _scheduled_call(
    stub: payment_service_pb2_grpc.PaymentServiceAsyncStub,
    scenario: str,
    request: tuple[Message, tuple[tuple[str, str], ...]],
    scheduled: float,
    tally: _Tally,
) -> None:
    code = await call(stub, scenario, *request)
    # Counted by when it was due, not when it finished: every call scheduled in
    # the window is in, however long it took.
    tally.add(scheduled, scheduled, code, finished=time.perf_counter())
