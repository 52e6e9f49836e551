"""The harness's figures as printed lines, RESULTS.md cells and a PNG.

Every figure is a median over the rounds of one run; ratios are paycore over the
echo of the same round (so a drift of the shared machine between rounds cancels).
Costs are per call answered OK: server CPU over the measured window, counters
(commits, statements, Redis commands) over the whole run including its warm-up.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bench.load import latency_percentiles_ms

if TYPE_CHECKING:
    from bench.counters import Costs
    from bench.harness import Round, ServerRound, WorkerRun


def _median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(known) if known else None


def _fmt(value: float | None, digits: int, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{value * scale:.{digits}f}"


def _throughputs(servers: Sequence[ServerRound], scenario: str) -> list[float]:
    return [s.windows[scenario].measured.load.throughput for s in servers]


def _per_call(run: WorkerRun, scenario: str, cost: Callable[[Costs], float | None]) -> float | None:
    values = []
    for r in run.rounds:
        costs = r.paycore.windows[scenario].costs
        value = cost(costs) if costs is not None else None
        values.append(value)
    return _median(values)


def costs_of(run: WorkerRun, scenario: str) -> dict[str, float | None]:
    """Medians over rounds of each cost per call of paycore's ``scenario``."""

    def per_ok(seconds: Callable[[Costs], float | None]) -> float | None:
        def cost(c: Costs) -> float | None:
            ok = _ok_in_window(run, scenario, c)
            value = seconds(c)
            return None if value is None or not ok else value / ok

        return _per_call(run, scenario, cost)

    def per_run(count: Callable[[Costs], float | None]) -> float | None:
        def cost(c: Costs) -> float | None:
            value = count(c)
            return None if value is None or not c.calls else value / c.calls

        return _per_call(run, scenario, cost)

    return {
        "paycore_cpu_ms": _median(
            [r.paycore.windows[scenario].measured.cpu_ms_per_call for r in run.rounds]
        ),
        "echo_cpu_ms": _median(
            [r.echo.windows[scenario].measured.cpu_ms_per_call for r in run.rounds]
        ),
        "postgres_cpu_ms": per_ok(
            lambda c: None if c.postgres_cpu_s is None else c.postgres_cpu_s * 1000
        ),
        "redis_cpu_us": per_ok(lambda c: c.redis_cpu_s * 1e6),
        "commits": per_run(lambda c: c.commits),
        "statements": per_run(lambda c: c.statements),
        "redis_commands": per_run(lambda c: c.redis_commands),
        "redis_reads": per_run(lambda c: c.redis_reads),
        "batch_rows": _per_call(
            run, scenario,
            lambda c: c.batches[0] / c.batches[1] if c.batches and c.batches[1] else None,
        ),
    }  # fmt: skip


def _ok_in_window(run: WorkerRun, scenario: str, costs: Costs) -> int:
    for r in run.rounds:
        window = r.paycore.windows[scenario]
        if window.costs is costs:
            return window.measured.load.ok
    return 0


def _open_percentiles(servers: Sequence[ServerRound], scenario: str) -> tuple[float, ...]:
    rows = [
        latency_percentiles_ms(s.open_loops[scenario].measured.load.latencies_s)
        for s in servers
        if scenario in s.open_loops
    ]
    return tuple(statistics.median(column) for column in zip(*rows, strict=True)) if rows else ()


def _percentiles(values: tuple[float, ...]) -> str:
    return " / ".join(f"{v:.1f}" for v in values) + " ms" if values else "-"


def round_line(workers: int, index: int, round_: Round, scenarios: Sequence[str]) -> str:
    """One line per round as it finishes: req/s of both servers and their ratio per scenario."""
    parts = []
    for scenario in scenarios:
        echo = round_.echo.windows[scenario].measured.load.throughput
        paycore = round_.paycore.windows[scenario].measured.load.throughput
        errors = {
            **round_.echo.windows[scenario].measured.load.errors,
            **round_.paycore.windows[scenario].measured.load.errors,
        }
        failed = f" errors {errors}" if errors else ""
        parts.append(f"{scenario} {echo:.0f}/{paycore:.0f} ({round_.ratio(scenario):.3f}){failed}")
    return f"{workers} worker(s), round {index + 1}, echo/paycore req/s: " + ", ".join(parts)


def describe(run: WorkerRun, options: argparse.Namespace) -> list[str]:
    """The printed summary of one worker count."""
    lines = [f"--- {run.workers} worker(s), medians of {len(run.rounds)} rounds"]
    echoes, paycores = [r.echo for r in run.rounds], [r.paycore for r in run.rounds]
    for scenario in options.scenarios:
        costs = costs_of(run, scenario)
        lines.append(
            f"{scenario}: echo {statistics.median(_throughputs(echoes, scenario)):.0f},"
            f" paycore {statistics.median(_throughputs(paycores, scenario)):.0f} req/s,"
            f" ratio {run.median_ratio(scenario):.3f};"
            + ", ".join(f" {name} {_fmt(value, 2)}" for name, value in costs.items())
        )
        if scenario in options.open_scenarios:
            lines.append(
                f"  open loop at {options.open_fraction:.0%}: echo"
                f" {_percentiles(_open_percentiles(echoes, scenario))}, paycore"
                f" {_percentiles(_open_percentiles(paycores, scenario))} (p50/p95/p99)"
            )
    for r in run.rounds:
        for name, server in (("echo", r.echo), ("paycore replay", r.paycore)):
            if server.h2load is not None:
                lines.append(f"  h2load {name}: {server.h2load.load.throughput:.0f} req/s")
    return lines


def result_cells(
    run: WorkerRun, scenario: str, options: argparse.Namespace, load_before: float | None = None
) -> list[str]:
    """The RESULTS.md cells after date, commit and command, for one scenario."""
    echoes, paycores = [r.echo for r in run.rounds], [r.paycore for r in run.rounds]
    costs = costs_of(run, scenario)
    errors = sum(
        sum(s.windows[scenario].measured.load.errors.values()) for s in (*echoes, *paycores)
    )
    began = "" if load_before is None else f"{load_before:.1f} at start, "
    pairs = zip(_throughputs(echoes, scenario), _throughputs(paycores, scenario), strict=True)
    notes = [
        "rounds echo/paycore req/s: " + ", ".join(f"{e:.0f}/{p:.0f}" for e, p in pairs),
        "ratios " + ", ".join(f"{r.ratio(scenario):.3f}" for r in run.rounds),
        f"Redis commands {_fmt(costs['redis_commands'], 1)},"
        f" reads {_fmt(costs['redis_reads'], 2)} per call",
        f"rows per batch {_fmt(costs['batch_rows'], 1)}",
        f"errors {errors}",
        f"concurrency {options.concurrency}, {options.processes} generator processes",
        f"load average {began}{os.getloadavg()[0]:.1f} at end, on {os.cpu_count()} CPUs",
    ]  # fmt: skip
    open_loop = "-"
    if scenario in options.open_scenarios:
        open_loop = (
            f"{_percentiles(_open_percentiles(echoes, scenario))};"
            f" {_percentiles(_open_percentiles(paycores, scenario))}"
        )
    return [
        str(run.workers),
        scenario,
        f"{statistics.median(_throughputs(echoes, scenario)):.0f}",
        f"{statistics.median(_throughputs(paycores, scenario)):.0f}",
        f"{run.median_ratio(scenario):.3f}",
        f"{_fmt(costs['paycore_cpu_ms'], 2)} (echo {_fmt(costs['echo_cpu_ms'], 2)})",
        _fmt(costs["postgres_cpu_ms"], 2),
        _fmt(costs["redis_cpu_us"], 0),
        f"{_fmt(costs['commits'], 2)} / {_fmt(costs['statements'], 1)}",
        open_loop,
        "; ".join(notes),
    ]


def plot(runs: Sequence[WorkerRun], path: Path, title: str, options: argparse.Namespace) -> None:
    """Left: median ratio per scenario and worker count; right: open-loop p50/p95/p99 (log)."""
    import matplotlib  # noqa: PLC0415  # only the plot needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.8 / max(1, len(runs))
    for index, run in enumerate(runs):
        xs = [x + (index - (len(runs) - 1) / 2) * width for x in range(len(options.scenarios))]
        ratios = [run.median_ratio(s) for s in options.scenarios]
        left.bar(xs, ratios, width, label=f"{run.workers} worker(s)")
        for x, ratio in zip(xs, ratios, strict=True):
            left.annotate(f"{ratio:.2f}", (x, ratio), ha="center", va="bottom", fontsize=8)
    left.set_xticks(range(len(options.scenarios)), options.scenarios)
    left.set_ylabel("paycore / echo req/s (median of rounds)")
    left.set_title("throughput ratio at saturation")
    left.legend()
    labels, latencies = [], []
    for run in runs:
        for scenario in options.open_scenarios:
            for name in ("echo", "paycore"):
                servers = [getattr(r, name) for r in run.rounds]
                labels.append(f"{name}\n{scenario}\n{run.workers}w")
                latencies.append(_open_percentiles(servers, scenario) or (0.0, 0.0, 0.0))
    bar = 0.27
    for index, name in enumerate(("p50", "p95", "p99")):
        values = [row[index] for row in latencies]
        right.bar([x + (index - 1) * bar for x in range(len(labels))], values, bar, label=name)
    right.set_yscale("log")
    right.set_ylabel("latency, ms (log)")
    right.set_title(f"open loop at {options.open_fraction:.0%} of each server's peak")
    right.set_xticks(range(len(labels)), labels, fontsize=8)
    right.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
