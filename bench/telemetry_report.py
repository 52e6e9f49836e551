"""The telemetry overhead benchmark's figures: its options, each round's result, their
summary per configuration, and the row bench/RESULTS.md records.

bench/telemetry_overhead.py measures (servers, rounds, load) and records; this
module only computes and formats what a run measured.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.load import LoadResult, latency_percentiles_ms
from core.config import Settings

RESULTS_HEADING = "## Telemetry overhead"
DEFAULT_SAMPLE_RATIO = Settings().trace_sample_ratio


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """How long, how often and how hard to measure."""

    seconds: float = 10.0
    """Measured window of one round, per configuration."""
    rounds: int = 3
    """Rounds; each serves one window with telemetry off and one with it on."""
    concurrency: int = 32
    """Concurrent closed-loop callers (one merchant each)."""
    sample_ratio: float = DEFAULT_SAMPLE_RATIO
    """Share of traces recorded with telemetry on (the ``trace_sample_ratio`` default)."""
    warmup_s: float = 1.0
    """Load before each window that is not counted (channels connect, pools fill)."""


@dataclass(frozen=True, slots=True)
class RoundResult:
    """One configuration's window in one round."""

    configuration: str
    load: LoadResult
    spans_exported: int
    """Spans the batch processor handed to the exporter (0 with telemetry off)."""
    scrape_bytes: int
    """Size of the round's Prometheus scrape (0 with telemetry off)."""
    server_cpu_s: float = 0.0
    """CPU time of this process (the server, its threads included) over the load's window."""

    @property
    def cpu_ms_per_call(self) -> float:
        """Server CPU per OK call, in ms: steadier than req/s on a machine shared with others."""
        return self.server_cpu_s / max(self.load.ok, 1) * 1000


@dataclass(frozen=True, slots=True)
class ConfigurationSummary:
    """One configuration over all rounds."""

    name: str
    throughputs: tuple[float, ...]
    """OK calls per second, per round."""
    ok: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    """Latency percentiles over every OK call of every round."""
    cpu_ms_per_call: tuple[float, ...] = ()
    """Server CPU per OK call, per round."""

    @property
    def throughput(self) -> float:
        """Median throughput over the rounds."""
        return statistics.median(self.throughputs)

    @property
    def cpu_ms(self) -> float:
        """Median server CPU per OK call over the rounds, in ms."""
        return statistics.median(self.cpu_ms_per_call) if self.cpu_ms_per_call else 0.0

    @classmethod
    def of(cls, name: str, rounds: Sequence[RoundResult]) -> ConfigurationSummary:
        """Summarise the rounds of configuration ``name``."""
        own = [result for result in rounds if result.configuration == name]
        mine = [result.load for result in own]
        latencies = tuple(latency for load in mine for latency in load.latencies_s)
        p50, p95, p99 = latency_percentiles_ms(latencies)
        return cls(
            name=name,
            throughputs=tuple(load.throughput for load in mine),
            ok=sum(load.ok for load in mine),
            errors=sum(sum(load.errors.values()) for load in mine),
            p50_ms=p50,
            p95_ms=p95,
            p99_ms=p99,
            cpu_ms_per_call=tuple(result.cpu_ms_per_call for result in own),
        )


@dataclass(frozen=True, slots=True)
class OverheadResult:
    """Telemetry off and on, measured in one run."""

    options: BenchOptions
    rounds: tuple[RoundResult, ...]
    off: ConfigurationSummary
    on: ConfigurationSummary
    event_loop: str
    """The server's event loop implementation ("uvloop" or "asyncio")."""

    @property
    def ratio(self) -> float:
        """Median throughput with telemetry on divided by off (1.0: no cost)."""
        return self.on.throughput / self.off.throughput

    @property
    def cost_percent(self) -> float:
        """Throughput lost to telemetry, in percent (negative: within noise, on was faster)."""
        return (1.0 - self.ratio) * 100.0

    @property
    def pair_ratios(self) -> tuple[float, ...]:
        """On / off throughput of each round: their spread shows how noisy the run was."""
        return tuple(
            on / off for off, on in zip(self.off.throughputs, self.on.throughputs, strict=True)
        )

    @property
    def cpu_ratio(self) -> float:
        """Median server CPU per call with telemetry on divided by off (1.0: no cost)."""
        return self.on.cpu_ms / self.off.cpu_ms if self.off.cpu_ms else 0.0

    @property
    def spans_exported(self) -> int:
        """Spans exported over all rounds with telemetry on."""
        return sum(result.spans_exported for result in self.rounds)


TABLE_HEADER = (
    "| Date | Commit | Command | Off req/s | On req/s | On/Off | p99 off | p99 on | Notes |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def result_cells(result: OverheadResult, revision: str, command: str) -> list[str]:
    """The cells of one RESULTS.md row, in TABLE_HEADER's order."""
    off, on = result.off, result.on

    def per_round(summary: ConfigurationSummary) -> str:
        return "/".join(f"{throughput:.0f}" for throughput in summary.throughputs)

    notes = (
        f"{os.cpu_count()} cores shared by server, load process, PostgreSQL and Redis; "
        f"server on {result.event_loop}; sample ratio {result.options.sample_ratio:g}, "
        f"concurrency {result.options.concurrency}; cost {result.cost_percent:.1f} %; "
        f"rounds off {per_round(off)}, on {per_round(on)} req/s "
        f"(on/off {'/'.join(f'{ratio:.2f}' for ratio in result.pair_ratios)}); "
        f"p50 {off.p50_ms:.1f}/{on.p50_ms:.1f} ms, p95 {off.p95_ms:.1f}/{on.p95_ms:.1f} ms "
        f"(off/on); errors {off.errors}/{on.errors}; spans exported {result.spans_exported}; "
        f"server CPU per call off/on {off.cpu_ms:.2f}/{on.cpu_ms:.2f} ms "
        f"(on/off {result.cpu_ratio:.3f}; rounds "
        f"{'/'.join(f'{a:.2f}' for a in off.cpu_ms_per_call)} off, "
        f"{'/'.join(f'{a:.2f}' for a in on.cpu_ms_per_call)} on)"
    )
    return [
        datetime.now(UTC).date().isoformat(),
        f"`{revision}`",
        f"`{command}`",
        f"{off.throughput:.1f}",
        f"{on.throughput:.1f}",
        f"{result.ratio:.3f}",
        f"{off.p99_ms:.1f} ms",
        f"{on.p99_ms:.1f} ms",
        notes,
    ]
