"""Latency against offered load, from light load up to past saturation, and its PNG.

Each step is an open loop (bench/load.py: requests on a fixed schedule, timed from
it) at a fraction of the server's peak (the median of the harness's rounds):
below the peak the latency is the service time plus queueing, past it the queue
grows for as long as the step lasts, and the served rate stays at the peak. The
echo and paycore are drawn on the same axes, offered load in req/s (log) against
p50 and p99 (log), so the knee of each is visible and comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.load import latency_percentiles_ms
from bench.servers import Measured

HEADING = "## Throughput issue 18: latency against offered load"
DEFAULT_STEPS = (0.1, 0.25, 0.5, 0.7, 0.85, 1.0, 1.15)
"""Offered load as fractions of the peak: light, the open-loop point, the knee, past it."""


@dataclass(frozen=True, slots=True)
class Point:
    """One step of a curve."""

    offered: float
    """req/s sent on schedule."""
    served: float
    """req/s answered OK."""
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    server_cores: float


@dataclass(frozen=True, slots=True)
class Curve:
    """One server's steps."""

    server: str
    workers: int
    scenario: str
    peak: float
    points: tuple[Point, ...]


def measure_curve(
    server: str,
    workers: int,
    scenario: str,
    *,
    peak: float,
    steps: Sequence[float],
    at: Callable[[float], Measured],
) -> Curve:
    """``at(rate)`` for each step's rate (``peak`` times each of ``steps``), in order."""
    points = []
    for step in steps:
        rate = max(1.0, peak * step)
        measured = at(rate)
        p50, p95, p99 = latency_percentiles_ms(measured.load.latencies_s)
        points.append(
            Point(
                rate,
                measured.load.throughput,
                p50,
                p95,
                p99,
                sum(measured.load.errors.values()),
                measured.use.cores,
            )
        )
        print(
            f"curve {server} {workers}w {scenario} offered {rate:.0f}/s: served"
            f" {measured.load.throughput:.0f}/s, p50/p99 {p50:.1f}/{p99:.1f} ms",
            flush=True,
        )
    return Curve(server, workers, scenario, peak, tuple(points))


def result_lines(curves: Sequence[Curve]) -> list[list[str]]:
    """RESULTS.md cells (after date, commit, command): one row per curve."""
    return [
        [
            curve.server,
            str(curve.workers),
            curve.scenario,
            f"{curve.peak:.0f}",
            "; ".join(
                f"{p.offered:.0f}->{p.served:.0f}: {p.p50_ms:.1f}/{p.p99_ms:.1f}"
                + (f" ({p.errors} errors)" if p.errors else "")
                for p in curve.points
            ),
        ]
        for curve in curves
    ]


def plot_curves(curves: Sequence[Curve], path: Path, title: str) -> None:
    """p50 (solid) and p99 (dashed) against offered req/s, both axes log, a colour per server."""
    import matplotlib  # noqa: PLC0415  # only the plot needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    colours = iter(["tab:gray", "tab:blue", "tab:olive", "tab:purple", "tab:green", "tab:red"])
    for curve in curves:
        colour = next(colours, "black")
        label = f"{curve.server}, {curve.workers} worker(s), {curve.scenario}"
        offered = [p.offered for p in curve.points]
        for axis, xs in ((left, offered), (right, [x / curve.peak for x in offered])):
            axis.plot(xs, [p.p50_ms for p in curve.points], "o-", color=colour,
                      label=f"{label} p50")  # fmt: skip
            axis.plot(xs, [p.p99_ms for p in curve.points], "s--", color=colour,
                      label=f"{label} p99")  # fmt: skip
    left.set_xscale("log")
    left.set_xlabel("offered load, req/s (log)")
    right.set_xlabel("offered load / that server's peak")
    right.axvline(0.5, color="black", linewidth=0.5)
    for axis in (left, right):
        axis.set_yscale("log")
        axis.set_ylabel("latency, ms (log)")
        axis.grid(True, which="both", linewidth=0.3)
    left.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
