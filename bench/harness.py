"""The figures issue 18 steers by: paycore against the gRPC echo, per RPC, in one run.

For each worker count of ``--workers`` and each of ``--rounds`` rounds, the echo
(bench/echo_server.py: bare grpc.aio on uvloop, fixed answers) and paycore
(``paycore run --workers N`` on PostgreSQL and Redis) are served one after the
other, the order flipping every round, and each is driven, with the same
generator and requests, through every scenario of ``--scenarios``
(bench/scenarios.py: CreatePayment with a raw card and with a card token,
GetPayment, ListPayments):

- at saturation: ``bench.load``'s closed loop (``--concurrency`` callers, one
  merchant each, in ``--processes`` generator processes): req/s, p50/p95/p99;
- then, for ``--open-scenarios`` (CreatePayment by default), open loop at
  ``--open-fraction`` (0.5) of the peak just measured: requests leave on a fixed
  schedule and are timed from it (no coordinated omission).

Per window it reads the server's process tree's CPU (from /proc, over exactly the
window) and, for paycore, what the window cost elsewhere (bench/counters.py):
the PostgreSQL server's CPU, Redis' CPU, PostgreSQL commits and statements per
call, Redis commands and reads per call, and rows per group-committed batch if
paycore's /metrics has them. The figures are medians over rounds; a ratio is
paycore over the echo of the same round.

``--curve`` then adds latency against offered load (bench/curve.py) for the
echo and paycore, up to saturation, drawn as a PNG. ``--h2load`` adds h2load
(a C generator) against the echo and paycore's idempotent replay as a
cross-check that the Python generator is not the limit.

    PYTHONPATH=clients/python:. python -m bench.harness --workers 1 2 --rounds 3 --curve
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import asyncpg

from bench import curve, h2load, report
from bench.counters import Costs, PostgresCounts, Probes, RedisCounts, measure_costs
from bench.echo_server import PATH as CREATE_PATH
from bench.load import LoadResult, issue_bench_keys, run_load, run_open_load
from bench.record import append_result, git_revision
from bench.scenarios import (
    DEFAULT_SCENARIOS,
    SCENARIOS,
    Context,
    create_payment_request,
    prepare,
    replayed_request,
)
from bench.servers import (
    REPOSITORY,
    Measured,
    echo_server,
    free_port,
    in_processes,
    paycore_server,
    watched,
)
from bench.telemetry_overhead import bench_databases
from core.storage.migrate import migrate

__all__ = ["REPOSITORY", "Costs", "measure", "measure_on", "parse_options"]

MODULE = "bench.harness"
HEADING = "## Throughput issue 18: measurements"
DEFAULT_PLOT = Path(__file__).with_name("harness_latency.png")
DEFAULT_CURVE_PLOT = Path(__file__).with_name("harness_curve.png")


@dataclass(frozen=True, slots=True)
class Window:
    """One server under one scenario's closed loop."""

    scenario: str
    measured: Measured
    costs: Costs | None = None


@dataclass(frozen=True, slots=True)
class OpenLoop:
    """One server open loop at a fraction of its peak in the same round."""

    scenario: str
    offered_rate: float
    measured: Measured


@dataclass(frozen=True, slots=True)
class ServerRound:
    """One server, one round: a window per scenario, then the open loops."""

    windows: dict[str, Window]
    open_loops: dict[str, OpenLoop] = field(default_factory=dict)
    h2load: Measured | None = None
    """h2load at saturation (echo: CreatePayment; paycore: the idempotent replay)."""


@dataclass(frozen=True, slots=True)
class Round:
    """Both servers with the same worker count, one after the other."""

    echo: ServerRound
    paycore: ServerRound

    def ratio(self, scenario: str) -> float:
        """paycore's req/s over the echo's for ``scenario`` in this round."""
        echo = self.echo.windows[scenario].measured.load.throughput
        return self.paycore.windows[scenario].measured.load.throughput / echo if echo else 0.0


@dataclass(frozen=True, slots=True)
class WorkerRun:
    """Every round with one worker count, and the optional load curves."""

    workers: int
    rounds: tuple[Round, ...]
    curves: tuple[curve.Curve, ...] = ()

    def median_ratio(self, scenario: str) -> float:
        """The median over rounds of paycore/echo for ``scenario``."""
        return statistics.median(r.ratio(scenario) for r in self.rounds)


def _drive(
    target: str, keys: Sequence[str], contexts: Sequence[Context], scenario: str, *,
    options: argparse.Namespace, rate: float | None = None, seconds: float | None = None,
) -> Callable[[], LoadResult]:  # fmt: skip
    """The load of one window: closed loop, or open loop at ``rate`` req/s in all."""
    processes = options.processes
    shares = [list(range(len(keys)))[i::processes] for i in range(processes)]
    common = {"seconds": seconds or options.seconds, "warmup_s": options.warmup}
    jobs = [
        partial(
            run_load if rate is None else partial(run_open_load, rate=rate / processes),
            target,
            api_keys=[keys[i] for i in share],
            scenario=scenario,
            contexts=[contexts[i] for i in share] if contexts else (),
            **common,
        )
        for share in shares
    ]
    return partial(in_processes, jobs)


def _server_round(
    process: subprocess.Popen[bytes], target: str, keys: Sequence[str], *,
    options: argparse.Namespace, contexts: Sequence[Context], probes: Probes | None,
    metrics: Sequence[str] = (), replay: Callable[[], LoadResult] | None = None,
) -> ServerRound:  # fmt: skip
    """Each scenario's window, and its open loop right after (``probes``: paycore's costs too)."""
    windows, open_loops = {}, {}
    for scenario in options.scenarios:
        drive = _drive(target, keys, contexts, scenario, options=options)
        measured, costs = measure_costs(process, drive, probes, metrics)
        windows[scenario] = Window(scenario, measured, costs)
        if scenario in options.open_scenarios:
            # Right after its peak: a later scenario that stalls the server (token
            # creates, issue 16) must not stall this one too.
            rate = max(1.0, measured.load.throughput * options.open_fraction)
            drive = _drive(target, keys, contexts, scenario, options=options, rate=rate)
            open_loops[scenario] = OpenLoop(scenario, rate, watched(process, drive))
    extra = watched(process, replay) if replay is not None else None
    return ServerRound(windows, open_loops, extra)


async def _keys(dsn: str, count: int) -> list[str]:
    await migrate(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        return await issue_bench_keys(pool, f"harness_{uuid.uuid4().hex[:8]}", count)
    finally:
        await pool.close()


def _h2load_job(
    target: str, message: bytes, api_key: str, options: argparse.Namespace
) -> Callable[[], LoadResult] | None:
    if not options.h2load:
        return None
    return h2load.job(
        target, CREATE_PATH, message, api_key, processes=options.processes,
        concurrency=options.concurrency, seconds=options.seconds, warmup_s=options.warmup,
    )  # fmt: skip


def measure(options: argparse.Namespace) -> list[WorkerRun]:
    """Every worker count of ``options.workers``, on PAYCORE_BENCH_* databases or embedded ones."""
    with bench_databases() as (dsn, redis_url):
        return measure_on(options, dsn, redis_url)


def measure_on(options: argparse.Namespace, dsn: str, redis_url: str) -> list[WorkerRun]:
    """Alternating rounds of echo and paycore for each worker count, on these databases."""
    keys = asyncio.run(_keys(dsn, options.concurrency))
    probes = Probes(PostgresCounts(dsn), RedisCounts(redis_url))
    try:
        plan = _Plan(options, keys, probes, (dsn, redis_url))
        return [_measure_workers(plan, workers) for workers in options.workers]
    finally:
        probes.redis.close()


@dataclass(frozen=True, slots=True)
class _Plan:
    """What every round of a run shares."""

    options: argparse.Namespace
    keys: Sequence[str]
    probes: Probes
    databases: tuple[str, str]


def _measure_workers(plan: _Plan, workers: int) -> WorkerRun:
    options = plan.options
    rounds = []
    for index in range(options.rounds):
        # paycore first in the first round: it makes what the reads need (prepare).
        order = ("paycore", "echo") if index % 2 == 0 else ("echo", "paycore")
        measured = {name: _serve_round(plan, name, workers) for name in order}
        rounds.append(Round(measured["echo"], measured["paycore"]))
        print(report.round_line(workers, index, rounds[-1], options.scenarios), flush=True)
    curves: tuple[curve.Curve, ...] = ()
    if options.curve:
        curves = tuple(_curve(plan, name, workers, rounds) for name in ("echo", "paycore"))
    return WorkerRun(workers, tuple(rounds), curves)


def _serve_round(plan: _Plan, name: str, workers: int) -> ServerRound:
    options, keys, probes = plan.options, plan.keys, plan.probes
    port = free_port()
    target = f"127.0.0.1:{port}"
    if name == "echo":
        with echo_server(port, workers) as echo:
            message = create_payment_request().SerializeToString()  # the echo ignores it
            job = _h2load_job(target, message, keys[0], options)
            return _server_round(
                echo, target, keys, options=options, contexts=probes.contexts, probes=None,
                replay=job,
            )  # fmt: skip
    http_port = free_port(consecutive=workers)
    metrics = [f"http://127.0.0.1:{http_port + i}/metrics" for i in range(workers)]
    with paycore_server(*plan.databases, port, workers, http_port=http_port) as paycore:
        if not probes.contexts and set(options.scenarios) - {"create"}:
            probes.contexts = asyncio.run(prepare(target, keys))
        job = None
        if options.h2load:
            replayed = asyncio.run(replayed_request(target, keys[0]))
            job = _h2load_job(target, replayed, keys[0], options)
        return _server_round(
            paycore, target, keys, options=options, contexts=probes.contexts, probes=probes,
            metrics=metrics, replay=job,
        )  # fmt: skip


def _curve(plan: _Plan, name: str, workers: int, rounds: Sequence[Round]) -> curve.Curve:
    options = plan.options
    scenario = options.curve_scenario
    server = [getattr(r, name) for r in rounds]
    peak = statistics.median(s.windows[scenario].measured.load.throughput for s in server)
    port = free_port()
    target = f"127.0.0.1:{port}"
    started = (
        echo_server(port, workers)
        if name == "echo"
        else paycore_server(*plan.databases, port, workers)
    )
    with started as process:

        def at(rate: float) -> Measured:
            drive = _drive(
                target, plan.keys, plan.probes.contexts, scenario, options=options, rate=rate,
                seconds=options.curve_seconds,
            )  # fmt: skip
            return watched(process, drive)

        return curve.measure_curve(
            name, workers, scenario, peak=peak, steps=options.curve_steps, at=at
        )


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """The harness's command-line options."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    add = parser.add_argument
    add("--seconds", type=float, default=4.0, help="each measured window")
    add("--warmup", type=float, default=1.5, help="uncounted load before each")
    add("--rounds", type=int, default=3, help="alternating rounds of echo and paycore")
    add("--concurrency", type=int, default=64, help="closed-loop callers (one merchant each)")
    add("--processes", type=int, default=2, help="generator processes")
    add("--workers", type=int, nargs="+", default=[1], help="server processes; one run each")
    add("--scenarios", nargs="+", choices=sorted(SCENARIOS), default=list(DEFAULT_SCENARIOS))
    add("--open-scenarios", nargs="*", choices=sorted(SCENARIOS), default=["create"],
        help="measured open loop at --open-fraction of the round's peak")  # fmt: skip
    add("--open-fraction", type=float, default=0.5, help="open-loop load, fraction of the peak")
    add("--h2load", action="store_true", help="also drive echo and paycore replay with h2load")
    add("--curve", action="store_true", help="latency against offered load, echo and paycore")
    add("--curve-scenario", choices=sorted(SCENARIOS), default="create")
    add("--curve-steps", type=float, nargs="+", default=list(curve.DEFAULT_STEPS),
        help="offered loads of the curve, as fractions of the median peak")  # fmt: skip
    add("--curve-seconds", type=float, default=3.0, help="each step of the curve")
    add("--curve-plot", type=Path, default=DEFAULT_CURVE_PLOT, help="the curve's PNG")
    add("--plot", type=Path, default=DEFAULT_PLOT, help="latency plot PNG")
    add("--no-plot", action="store_true")
    add("--no-record", action="store_true", help="print only")
    options = parser.parse_args(argv)
    if min(options.workers) < 1 or options.processes < 1 or options.concurrency < 1:
        parser.error("--workers, --processes and --concurrency must be at least 1")
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    if options.concurrency < options.processes:
        parser.error("--concurrency must be at least --processes (a key per caller)")
    if not 0 < options.open_fraction <= 1:
        parser.error("--open-fraction must be in (0, 1]")
    if not set(options.open_scenarios) <= set(options.scenarios):
        parser.error("--open-scenarios must be among --scenarios (their peak sets the rate)")
    if options.curve and options.curve_scenario not in options.scenarios:
        parser.error("--curve-scenario must be among --scenarios (its peak sets the steps)")
    if options.h2load and not h2load.available():
        parser.error("--h2load: h2load is not on PATH (apt-get install nghttp2-client)")
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print, plot, and append a row per worker count and scenario to RESULTS.md."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_options(argv)
    revision = git_revision()  # before the plot and the rows change tracked files
    load_before = os.getloadavg()[0]
    runs = measure(options)
    for run in runs:
        print("\n".join(report.describe(run, options)))
    if not options.no_plot:
        title = f"paycore vs gRPC echo ({time.strftime('%Y-%m-%d')})"
        report.plot(runs, options.plot, title, options)
        print(f"plot: {options.plot}")
        curves = [c for run in runs for c in run.curves]
        if curves:
            curve.plot_curves(curves, options.curve_plot, f"latency vs offered load ({title})")
            print(f"curve: {options.curve_plot}")
    if not options.no_record:
        for run in runs:
            for scenario in options.scenarios:
                cells = report.result_cells(run, scenario, options, load_before)
                append_result(HEADING, MODULE, argv, cells, revision=revision)
            for line in curve.result_lines(run.curves):
                append_result(curve.HEADING, MODULE, argv, line, revision=revision)


if __name__ == "__main__":
    main()
