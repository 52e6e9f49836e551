"""The figure issue 10 steers by: paycore's durable CreatePayment against the stack's ceiling.

In ONE run, for each worker count of ``--workers`` (``--workers 1 2``: the
1-vs-2-workers comparison), with the same generator, message sizes and worker
count for both servers:

1. the ceiling: ``bench.echo_server --workers N`` (bare grpc.aio on uvloop, fixed
   answer, N processes on one port with SO_REUSEPORT, like paycore's workers);
2. paycore: ``paycore run --workers N`` on real PostgreSQL and Redis, serving the
   full durable CreatePayment: auth, rate limit and idempotency gate, risk
   scoring with velocity, routing, the sandbox channel, the PostgreSQL commits
   with the outbox.

Each server is measured twice:

- at saturation: ``bench.load``'s closed loop (``--concurrency`` callers) gives
  its peak (req/s) and p50/p95/p99 at that peak; the ratio is paycore/ceiling;
- at half of its own peak, open loop: ``bench.load.run_open_load`` sends on a
  fixed schedule at ``--open-fraction`` (0.5) of the peak just measured and
  times each call from its scheduled send, so stalls are not hidden by the
  generator waiting (coordinated omission); p50/p95/p99 there are the latency
  a user sees at a sane load.

For each window the harness reads the server's whole process tree from /proc
(CPU seconds, hence cores busy and req/s per server core; peak RSS of each
process, VmHWM) and each generator's own CPU time. The generator is
``--processes`` processes of its own, with requests built before the clock
starts (open loop); with ``--h2load`` (Debian's nghttp2-client)
the run adds h2load, a C generator, against the echo server and against
paycore's idempotent *replay* (same request, answered from the idempotency
record), as a cross-check that the Python generator is not the limit.

The run prints every figure, writes a latency plot (``--plot``, default
bench/harness_latency.png) and appends one row per worker count to
bench/RESULTS.md. Servers are measured one after the other in one run, so
ratios hold when the machine is noisy (the absolute numbers do not).

    PYTHONPATH=clients/python:. python -m bench.harness --seconds 10 --workers 1 2 --h2load
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import asyncpg
import grpc

from bench import h2load
from bench.cpu import CpuSamples, process_tree
from bench.echo_server import PATH as CREATE_PATH
from bench.load import (
    LoadResult,
    create_payment_request,
    issue_bench_keys,
    latency_percentiles_ms,
    merge_results,
    run_load,
    run_open_load,
)
from bench.record import append_result, git_revision
from bench.telemetry_overhead import bench_databases
from core.storage.migrate import migrate
from paycore.v1 import payment_service_pb2_grpc

MODULE = "bench.harness"
HEADING = "## Throughput, open-loop latency and workers: paycore vs the gRPC ceiling"
REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_PLOT = Path(__file__).with_name("harness_latency.png")


@dataclass(frozen=True, slots=True)
class ServerUse:
    """What a server's process tree used during one window."""

    cpu_s: float
    """CPU time of the tree during the load's measured window."""
    wall_s: float
    """That window, from the first generator's start to the last one's end."""
    rss_mb: tuple[float, ...]
    """Peak RSS (VmHWM) of each process of the tree, parent first."""

    @property
    def cores(self) -> float:
        """Cores the server kept busy on average."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def processes(self) -> int:
        """Processes in the tree."""
        return len(self.rss_mb)

    @property
    def peak_rss_mb(self) -> float:
        """The largest process's peak RSS."""
        return max(self.rss_mb, default=0.0)


@dataclass(frozen=True, slots=True)
class Measured:
    """One server under one load."""

    load: LoadResult
    use: ServerUse

    @property
    def per_core(self) -> float:
        """Calls served per second per server core busy (the figure docs/SCALING.md uses)."""
        return self.load.throughput / self.use.cores if self.use.cores else 0.0


@dataclass(frozen=True, slots=True)
class ServerRun:
    """One server at saturation, then open loop at a fraction of that peak."""

    saturation: Measured
    offered_rate: float
    open_loop: Measured
    h2load: Measured | None = None
    """h2load at saturation (echo: the same call; paycore: the idempotent replay)."""


@dataclass(frozen=True, slots=True)
class WorkerRun:
    """Both servers with one worker count."""

    workers: int
    ceiling: ServerRun
    paycore: ServerRun

    @property
    def ratio(self) -> float:
        """paycore's peak over the ceiling's."""
        peak = self.ceiling.saturation.load.throughput
        return self.paycore.saturation.load.throughput / peak if peak else 0.0

    @property
    def h2load_ratio(self) -> float | None:
        """paycore replay over echo, both driven by h2load (None without --h2load)."""
        echo, replay = self.ceiling.h2load, self.paycore.h2load
        if echo is None or replay is None or not echo.load.ok:
            return None
        return replay.load.throughput / echo.load.throughput


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextmanager
def _server(
    args: Sequence[str],
    env: dict[str, str],
    port: int,
    workers: int,
    *,
    python: str = sys.executable,
    cwd: Path = REPOSITORY,
) -> Iterator[subprocess.Popen[bytes]]:
    """``python args`` in ``cwd`` (another checkout: bench/versus.py), until it listens."""
    process = subprocess.Popen(
        [python, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        # Listening is not enough with several workers: each binds on its own, so
        # wait until the tree has them all (the parent plus one per worker).
        while not (_listening(port) and len(process_tree(process.pid)) >= _expected(workers)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not start (exit {process.poll()})")
            time.sleep(0.2)
        time.sleep(1.0 + workers)  # let start-up work settle before measuring
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _expected(workers: int) -> int:
    return 1 if workers == 1 else workers + 1


def _environment(repository: Path = REPOSITORY, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYCORE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(repository), str(repository / "clients" / "python")])
    env.update(extra)
    return env


def _in_processes(jobs: Sequence[Callable[[], LoadResult]]) -> LoadResult:
    """Each job in a generator process of its own, all at once; their results merged."""
    # Spawned, not forked: this process has used gRPC (the replay check), and a
    # fork after that inherits gRPC's threads' locks (see core/runtime/supervisor.py).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        futures = [pool.submit(job) for job in jobs]
        return merge_results([future.result() for future in futures])


def _watched(process: subprocess.Popen[bytes], drive: Callable[[], LoadResult]) -> Measured:
    """Run ``drive`` and measure the server's process tree over the load's window."""
    pids = process_tree(process.pid)
    with CpuSamples(pids) as samples:
        load = drive()
    wall = load.window_end - load.window_start
    cpu = samples.at(load.window_end) - samples.at(load.window_start)
    return Measured(load, ServerUse(cpu, wall, tuple(map(_peak_rss_mb, process_tree(process.pid)))))


def _measure_server(
    process: subprocess.Popen[bytes],
    target: str,
    keys: Sequence[str],
    options: argparse.Namespace,
    replay: Callable[[], LoadResult] | None,
) -> ServerRun:
    shares = [list(keys[i :: options.processes]) for i in range(options.processes)]
    seconds, warmup = options.seconds, options.warmup

    def closed() -> LoadResult:
        return _in_processes(
            [partial(run_load, target, seconds=seconds, warmup_s=warmup, api_keys=share)
             for share in shares]
        )  # fmt: skip

    saturation = _watched(process, closed)
    rate = max(1.0, saturation.load.throughput * options.open_fraction)

    def opened() -> LoadResult:
        each = rate / len(shares)
        return _in_processes(
            [partial(run_open_load, target, rate=each, seconds=seconds, warmup_s=warmup,
                     api_keys=share)
             for share in shares]
        )  # fmt: skip

    open_loop = _watched(process, opened)
    extra = _watched(process, replay) if replay is not None else None
    return ServerRun(saturation, rate, open_loop, extra)


async def _keys(dsn: str, count: int) -> list[str]:
    await migrate(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        return await issue_bench_keys(pool, f"harness_{uuid.uuid4().hex[:8]}", count)
    finally:
        await pool.close()


async def _replay_request(target: str, api_key: str) -> bytes:
    """A CreatePayment that paycore has answered OK once: h2load then replays it."""
    request = create_payment_request()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = payment_service_pb2_grpc.PaymentServiceStub(channel)
        metadata = (("authorization", f"Bearer {api_key}"),)
        first = await stub.CreatePayment(request, metadata=metadata, timeout=30)
        again = await stub.CreatePayment(request, metadata=metadata, timeout=30)
    if again.payment.id != first.payment.id:
        raise RuntimeError("a replay did not answer the same payment: h2load would measure junk")
    return request.SerializeToString()


def _h2load_job(
    target: str, message: bytes, api_key: str, options: argparse.Namespace
) -> Callable[[], LoadResult]:
    shape = h2load.H2loadShape(
        threads=options.processes,
        clients=options.processes * 2,
        streams=max(1, options.concurrency // (options.processes * 2)),
    )

    def job() -> LoadResult:
        return h2load.run_h2load(
            target,
            CREATE_PATH,
            message,
            headers=[("authorization", f"Bearer {api_key}")],
            seconds=options.seconds,
            warmup_s=options.warmup,
            shape=shape,
        )

    return job


def measure(options: argparse.Namespace) -> list[WorkerRun]:
    """Every worker count of ``options.workers``, on PAYCORE_BENCH_* databases or embedded ones."""
    with bench_databases() as (dsn, redis_url):
        return measure_on(options, dsn, redis_url)


def measure_on(options: argparse.Namespace, dsn: str, redis_url: str) -> list[WorkerRun]:
    """Ceiling then paycore for each worker count, with the same generator, on these databases."""
    keys = asyncio.run(_keys(dsn, options.concurrency))
    return [_measure_workers(options, workers, keys, dsn, redis_url) for workers in options.workers]


def _measure_workers(
    options: argparse.Namespace, workers: int, keys: Sequence[str], dsn: str, redis_url: str
) -> WorkerRun:
    port = _free_port()
    target = f"127.0.0.1:{port}"
    echo_args = ["-m", "bench.echo_server", "--port", str(port), "--workers", str(workers)]
    with _server(echo_args, _environment(), port, workers) as echo:
        # The echo ignores the request: any CreatePayment will do.
        message = create_payment_request().SerializeToString()
        job = _h2load_job(target, message, keys[0], options) if options.h2load else None
        ceiling = _measure_server(echo, target, keys, options, job)
    port = _free_port()
    target = f"127.0.0.1:{port}"
    with paycore_server(dsn, redis_url, port, workers) as paycore:
        job = None
        if options.h2load:
            replayed = asyncio.run(_replay_request(target, keys[0]))
            job = _h2load_job(target, replayed, keys[0], options)
        service = _measure_server(paycore, target, keys, options, job)
    return WorkerRun(workers, ceiling, service)


@contextmanager
def paycore_server(
    dsn: str, redis_url: str, port: int, workers: int, repository: Path = REPOSITORY
) -> Iterator[subprocess.Popen[bytes]]:
    """``paycore run`` of the checkout at ``repository`` (its own .venv unless it is this one)."""
    env = _environment(
        repository,
        PAYCORE_POSTGRES_DSN=dsn,
        PAYCORE_REDIS_URL=redis_url,
        PAYCORE_HTTP_PORT="0",
        PAYCORE_LOG_LEVEL="WARNING",
        # Saturation is the point: no rate limit in the way.
        PAYCORE_RATE_LIMITS__WRITES_PER_S="1000000",
        PAYCORE_RATE_LIMITS__WRITES_BURST="1000000",
    )
    python = sys.executable if repository == REPOSITORY else str(repository / ".venv/bin/python")
    args = ["-m", "core.cli", "run", "--port", str(port), "--workers", str(workers)]
    with _server(args, env, port, workers, python=python, cwd=repository) as process:
        yield process


def _percentiles(measured: Measured) -> str:
    p50, p95, p99 = latency_percentiles_ms(measured.load.latencies_s)
    return f"{p50:.1f} / {p95:.1f} / {p99:.1f} ms"


def _use(use: ServerUse) -> str:
    rss = "+".join(f"{mb:.0f}" for mb in use.rss_mb)
    return f"CPU {use.cpu_s:.1f} s ({use.cores:.2f} cores), peak RSS {rss} MB"


def _generator(load: LoadResult) -> str:
    return f"{load.generator_cpu_s:.1f} s CPU ({load.generator_cores:.2f} cores)"


def describe(name: str, run: ServerRun) -> list[str]:
    """Lines describing one server's windows."""
    lines = []
    for label, measured in (
        ("saturation", run.saturation),
        (f"open loop at {run.offered_rate:.0f}/s", run.open_loop),
        ("h2load", run.h2load),
    ):
        if measured is None:
            continue
        load = measured.load
        lag = f", send lag p99 {load.send_lag_p99_s * 1000:.1f} ms" if load.send_lag_p99_s else ""
        lines.append(
            f"{name} {label}: {load.throughput:.0f} req/s, p50/p95/p99 {_percentiles(measured)}, "
            f"errors {load.errors or 0}; server {_use(measured.use)}; "
            f"generator {_generator(load)}{lag}"
        )
    return lines


def result_cells(
    run: WorkerRun, options: argparse.Namespace, load_before: float | None = None
) -> list[str]:
    """The RESULTS.md cells after date, commit and command (``load_before``: the 1-min
    load average when the run began; the one at its end is read now)."""
    ceiling, paycore = run.ceiling, run.paycore
    notes = [
        f"per server core at saturation: ceiling {ceiling.saturation.per_core:.0f},"
        f" paycore {paycore.saturation.per_core:.0f} req/s",
        f"open loop at {options.open_fraction:.0%} of each peak:"
        f" {ceiling.offered_rate:.0f} / {paycore.offered_rate:.0f} req/s offered,"
        f" {ceiling.open_loop.load.throughput:.0f}"
        f" / {paycore.open_loop.load.throughput:.0f} served",
        f"saturation p99 {latency_percentiles_ms(ceiling.saturation.load.latencies_s)[2]:.1f}"
        f" / {latency_percentiles_ms(paycore.saturation.load.latencies_s)[2]:.1f} ms",
    ]
    h2 = run.h2load_ratio
    if h2 is not None and ceiling.h2load and paycore.h2load:
        notes.append(
            f"h2load: echo {ceiling.h2load.load.throughput:.0f}, paycore replay"
            f" {paycore.h2load.load.throughput:.0f} req/s (ratio {h2:.3f}), h2load CPU"
            f" {ceiling.h2load.load.generator_cores:.2f}"
            f" / {paycore.h2load.load.generator_cores:.2f} cores"
        )
    errors = {
        name: measured.load.errors
        for name, measured in (
            ("ceiling", ceiling.saturation),
            ("paycore", paycore.saturation),
            ("ceiling open", ceiling.open_loop),
            ("paycore open", paycore.open_loop),
        )
        if measured.load.errors
    }
    notes.append(f"errors {errors or 0}")
    notes.append(
        f"closed loop concurrency {options.concurrency}, {options.processes} generator processes"
    )
    began = "" if load_before is None else f"{load_before:.1f} at start, "
    notes.append(f"load average {began}{os.getloadavg()[0]:.1f} at end, on {os.cpu_count()} CPUs")
    return [
        str(run.workers),
        f"{ceiling.saturation.load.throughput:.0f}",
        f"{paycore.saturation.load.throughput:.0f}",
        f"{run.ratio:.3f}",
        _percentiles(ceiling.open_loop),
        _percentiles(paycore.open_loop),
        f"{ceiling.saturation.use.cores:.2f} cores / {ceiling.saturation.use.peak_rss_mb:.0f} MB;"
        f" {paycore.saturation.use.cores:.2f} cores / {paycore.saturation.use.peak_rss_mb:.0f} MB"
        f" ({paycore.saturation.use.processes} process(es))",
        f"{ceiling.saturation.load.generator_cores:.2f}"
        f" / {paycore.saturation.load.generator_cores:.2f} cores",
        "; ".join(notes),
    ]


def plot(runs: Sequence[WorkerRun], path: Path, title: str, open_fraction: float = 0.5) -> None:
    """Open-loop p50/p95/p99 (log scale) and peak throughput per server and worker count."""
    import matplotlib  # noqa: PLC0415  # only the plot needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    labels, latencies, peaks = [], [], []
    for run in runs:
        for name, server in (("ceiling", run.ceiling), ("paycore", run.paycore)):
            labels.append(f"{name}\n{run.workers} worker{'s' if run.workers > 1 else ''}")
            latencies.append(latency_percentiles_ms(server.open_loop.load.latencies_s))
            peaks.append(server.saturation.load.throughput)
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    width = 0.27
    for index, name in enumerate(("p50", "p95", "p99")):
        values = [row[index] if not math.isnan(row[index]) else 0.0 for row in latencies]
        left.bar([x + (index - 1) * width for x in range(len(labels))], values, width, label=name)
    left.set_yscale("log")
    left.set_ylabel("latency, ms (log)")
    left.set_title(f"open loop at {open_fraction:.0%} of each server's peak")
    left.set_xticks(range(len(labels)), labels)
    left.legend()
    right.bar(range(len(labels)), peaks, color=["tab:gray", "tab:blue"] * len(runs))
    right.set_ylabel("req/s")
    right.set_title("peak (closed loop, saturation)")
    right.set_xticks(range(len(labels)), labels)
    for x, peak in enumerate(peaks):
        right.annotate(f"{peak:.0f}", (x, peak), ha="center", va="bottom")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """The harness's command-line options."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--seconds", type=float, default=10.0, help="each measured window")
    parser.add_argument("--warmup", type=float, default=3.0, help="uncounted load before each")
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop callers")
    parser.add_argument("--processes", type=int, default=2, help="generator processes")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="server processes for both servers; several values: one measurement each",
    )
    parser.add_argument(
        "--open-fraction",
        type=float,
        default=0.5,
        help="open-loop offered load as a fraction of each server's measured peak",
    )
    parser.add_argument(
        "--h2load", action="store_true", help="also drive echo and paycore replay with h2load"
    )
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="latency plot PNG")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--no-record", action="store_true", help="print only")
    options = parser.parse_args(argv)
    if min(options.workers) < 1 or options.processes < 1 or options.concurrency < 1:
        parser.error("--workers, --processes and --concurrency must be at least 1")
    if options.concurrency < options.processes:
        parser.error("--concurrency must be at least --processes (a key per caller)")
    if not 0 < options.open_fraction <= 1:
        parser.error("--open-fraction must be in (0, 1]")
    if options.h2load and not h2load.available():
        parser.error("--h2load: h2load is not on PATH (apt-get install nghttp2-client)")
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print, plot, and append a row per worker count to bench/RESULTS.md."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_options(argv)
    revision = git_revision()  # before the plot and the rows change tracked files
    load_before = os.getloadavg()[0]
    runs = measure(options)
    for run in runs:
        print(f"--- {run.workers} worker(s)")
        print("\n".join(describe("ceiling (echo)", run.ceiling)))
        print("\n".join(describe("paycore CreatePayment", run.paycore)))
        print(f"ratio paycore/ceiling: {run.ratio:.3f}")
        print(
            f"per server core: ceiling {run.ceiling.saturation.per_core:.0f},"
            f" paycore {run.paycore.saturation.per_core:.0f} req/s"
        )
        if run.h2load_ratio is not None:
            print(f"h2load ratio paycore replay/echo: {run.h2load_ratio:.3f}")
    if len(runs) > 1:
        first = runs[0].paycore.saturation.load.throughput
        for run in runs[1:]:
            scale = run.paycore.saturation.load.throughput / first if first else 0.0
            print(f"paycore {run.workers} workers / {runs[0].workers}: {scale:.2f}x")
    if not options.no_plot:
        title = f"paycore vs gRPC ceiling ({time.strftime('%Y-%m-%d')})"
        plot(runs, options.plot, title, options.open_fraction)
        print(f"plot: {options.plot}")
    if not options.no_record:
        for run in runs:
            cells = result_cells(run, options, load_before)
            append_result(HEADING, MODULE, argv, cells, revision=revision)


if __name__ == "__main__":
    main()
