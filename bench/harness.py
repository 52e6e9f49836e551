"""The figure issue 10 steers by: paycore's durable CreatePayment against the stack's ceiling.

In ONE run, with the same generator, message sizes and worker count:

1. the ceiling: ``bench.echo_server`` (bare grpc.aio on uvloop, fixed answer);
2. paycore: ``paycore run`` (one worker) on real PostgreSQL and Redis, serving the
   full durable CreatePayment: auth, rate limit and idempotency gate, risk
   scoring with velocity, routing, the sandbox channel, the PostgreSQL commits
   with the outbox;

and prints paycore/ceiling throughput, p50/p95/p99 latency at saturation, and
each server's CPU seconds and peak RSS (its whole process tree, from /proc).
The generator is ``bench.load`` (closed loop, pre-built requests, uvloop) in
``--processes`` processes of its own. Both servers are separate processes,
started the same way, measured one after the other, so the ratio holds when
the machine is noisy (the absolute numbers do not).

    PYTHONPATH=clients/python:. python -m bench.harness --seconds 10 --concurrency 64

Not yet here (the rest of issue 10): the open-loop latency at 50 % of peak,
the latency plot, and h2load as the generator for the echo.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.load import LoadResult, issue_bench_keys, latency_percentiles_ms, run_load
from bench.record import append_result
from bench.telemetry_overhead import bench_databases
from core.storage.migrate import migrate

MODULE = "bench.harness"
HEADING = "## Throughput: paycore vs the gRPC ceiling"
REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class ServerUse:
    """What a server's process tree used during its run."""

    cpu_s: float
    peak_rss_mb: float
    processes: int


@dataclass(frozen=True, slots=True)
class Measured:
    """One server under load."""

    load: LoadResult
    use: ServerUse


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _tree(pid: int) -> list[int]:
    """``pid`` and every descendant, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _cpu_s(pids: Sequence[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / ticks


def _peak_rss_mb(pids: Sequence[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak / 1024


@contextmanager
def _server(
    args: Sequence[str], env: dict[str, str], port: int
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPOSITORY,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not start (exit {process.poll()})")
            time.sleep(0.2)
        time.sleep(1.0)  # let start-up work settle before measuring
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYCORE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPOSITORY), str(REPOSITORY / "clients" / "python")])
    env.update(extra)
    return env


def _drive(
    target: str, keys: Sequence[str], seconds: float, warmup_s: float, processes: int
) -> LoadResult:
    """The load, split over ``processes`` generator processes; their results merged."""
    shares = [list(keys[i::processes]) for i in range(processes)]
    # The warm-up inside each run (connections, imports, pools) is not measured.
    with ProcessPoolExecutor(max_workers=processes) as pool:
        futures = [
            pool.submit(run_load, target, seconds=seconds, warmup_s=warmup_s, api_keys=share)
            for share in shares
        ]
        parts = [future.result() for future in futures]
    errors: dict[str, int] = {}
    for part in parts:
        for code, count in part.errors.items():
            errors[code] = errors.get(code, 0) + count
    return LoadResult(
        ok=sum(p.ok for p in parts),
        errors=errors,
        window_s=seconds,
        latencies_s=tuple(lat for p in parts for lat in p.latencies_s),
    )


def _measure(
    process: subprocess.Popen[bytes],
    target: str,
    keys: Sequence[str],
    options: argparse.Namespace,
) -> Measured:
    pids = _tree(process.pid)
    before = _cpu_s(pids)
    load = _drive(target, keys, options.seconds, options.warmup, options.processes)
    pids = _tree(process.pid)
    return Measured(load, ServerUse(_cpu_s(pids) - before, _peak_rss_mb(pids), len(pids)))


async def _keys(dsn: str, count: int) -> list[str]:
    await migrate(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        return await issue_bench_keys(pool, f"harness_{uuid.uuid4().hex[:8]}", count)
    finally:
        await pool.close()


def measure(options: argparse.Namespace) -> tuple[Measured, Measured]:
    """(ceiling, paycore) on PAYCORE_BENCH_* databases or embedded ones."""
    with bench_databases() as (dsn, redis_url):
        return measure_on(options, dsn, redis_url)


def measure_on(options: argparse.Namespace, dsn: str, redis_url: str) -> tuple[Measured, Measured]:
    """(ceiling, paycore), one after the other, with the same generator, on these databases."""
    keys = asyncio.run(_keys(dsn, options.concurrency))
    port = _free_port()
    with _server(["-m", "bench.echo_server", "--port", str(port)], _environment(), port) as echo:
        ceiling = _measure(echo, f"127.0.0.1:{port}", keys, options)
    port = _free_port()
    env = _environment(
        PAYCORE_POSTGRES_DSN=dsn,
        PAYCORE_REDIS_URL=redis_url,
        PAYCORE_HTTP_PORT="0",
        PAYCORE_LOG_LEVEL="WARNING",
        # Saturation is the point: no rate limit in the way.
        PAYCORE_RATE_LIMITS__WRITES_PER_S="1000000",
        PAYCORE_RATE_LIMITS__WRITES_BURST="1000000",
    )
    with _server(["-m", "core.cli", "run", "--port", str(port)], env, port) as paycore:
        service = _measure(paycore, f"127.0.0.1:{port}", keys, options)
    return ceiling, service


def _describe(name: str, measured: Measured) -> str:
    p50, p95, p99 = latency_percentiles_ms(measured.load.latencies_s)
    use = measured.use
    return (
        f"{name}: {measured.load.throughput:.0f} req/s, p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
        f"p99 {p99:.1f} ms, errors {measured.load.errors or 0}, CPU {use.cpu_s:.1f} s, "
        f"peak RSS {use.peak_rss_mb:.0f} MB ({use.processes} processes)"
    )


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """The harness's command-line options."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="print only")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print, and append a row to bench/RESULTS.md."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_options(argv)
    ceiling, service = measure(options)
    ratio = service.load.throughput / ceiling.load.throughput if ceiling.load.ok else 0.0
    print(_describe("ceiling (echo)", ceiling))
    print(_describe("paycore CreatePayment", service))
    print(f"ratio paycore/ceiling: {ratio:.3f}")
    if not options.no_record:
        _, _, ceiling_p99 = latency_percentiles_ms(ceiling.load.latencies_s)
        _, _, p99 = latency_percentiles_ms(service.load.latencies_s)
        append_result(
            HEADING,
            MODULE,
            argv,
            [
                f"{ceiling.load.throughput:.0f}",
                f"{service.load.throughput:.0f}",
                f"{ratio:.3f}",
                f"{ceiling_p99:.1f} ms",
                f"{p99:.1f} ms",
                f"{service.use.cpu_s:.1f} s / {service.use.peak_rss_mb:.0f} MB",
                f"closed loop, concurrency {options.concurrency}, {options.processes} generator"
                f" processes; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            ],
        )


if __name__ == "__main__":
    main()
