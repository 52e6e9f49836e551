"""Telemetry overhead: CreatePayment throughput with tracing and metrics on vs off, in one run.

Issue 9 asks for at most 10 % cost at the default sampling. One run starts
PostgreSQL and Redis once, then serves rounds alternately with two telemetry
configurations (off, on, off, on, ...) on fresh servers, while a load process of
its own drives closed-loop CreatePayment traffic:

- **off**: ``Telemetry.disabled()``, the OpenTelemetry API's no-ops;
- **on**: the metrics exactly as ``paycore run`` builds them with
  ``metrics_exporter = "prometheus"`` (SDK MeterProvider, a PrometheusMetricReader on
  a private registry, scraped once a round on the event loop as ``/metrics`` is),
  and an SDK TracerProvider sampling ``ParentBased(TraceIdRatioBased(ratio))`` into
  a BatchSpanProcessor whose exporter drops every batch: the cost measured is
  paycore's instrumentation and the SDK's, not a collector's.

The result is the ratio of the median throughputs (on / off) and latency
percentiles per configuration. Run from the repository root::

    PYTHONPATH=clients/python:. python -m bench.telemetry_overhead --seconds 8 --rounds 3

Set ``PAYCORE_BENCH_POSTGRES_DSN`` (a migrated database is fine; migrations are
applied) and ``PAYCORE_BENCH_REDIS_URL`` to use existing servers. This module measures
and records; the figures, their summary and the RESULTS.md row are bench/telemetry_report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import generate_latest

from bench.cpu import CpuSamples
from bench.load import (
    issue_bench_keys,
    latency_percentiles_ms,
    load_process_ready,
    run_load,
)
from bench.record import append_row, command_line, git_revision, markdown_row
from bench.telemetry_report import (
    RESULTS_HEADING,
    TABLE_HEADER,
    BenchOptions,
    ConfigurationSummary,
    OverheadResult,
    RoundResult,
    result_cells,
)
from core.app import open_services, paycore_server
from core.config import RateLimitSettings, Settings
from core.runtime.embedded import start_embedded
from core.runtime.loop import run
from core.runtime.telemetry import TelemetryRuntime, build_telemetry
from core.storage.migrate import migrate
from core.telemetry import Telemetry

MODULE = "bench.telemetry_overhead"
CONFIGURATIONS = ("off", "on")
"""The order of the two configurations within every round."""

UNLIMITED = RateLimitSettings(
    writes_per_s=1_000_000, writes_burst=1_000_000, reads_per_s=1_000_000, reads_burst=1_000_000
)
"""The benchmark measures the request path, not the rate limiter refusing it."""


class DiscardingSpanExporter(SpanExporter):
    """Accepts every batch and keeps only a count of its spans."""

    def __init__(self) -> None:
        self.exported = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Count the batch and drop it."""
        self.exported += len(spans)
        return SpanExportResult.SUCCESS


class TelemetryOn:
    """The "on" configuration: production metrics, sampled traces dropped at export."""

    def __init__(self, sample_ratio: float) -> None:
        self.spans = DiscardingSpanExporter()
        self._tracer_provider = TracerProvider(
            sampler=ParentBased(TraceIdRatioBased(sample_ratio)), shutdown_on_exit=False
        )
        self._tracer_provider.add_span_processor(BatchSpanProcessor(self.spans))
        # The metrics side of `paycore run` (views, resource, private registry); its HTTP
        # endpoint is never started: the scrape is generate_latest, as /metrics calls it.
        self._metrics: TelemetryRuntime = build_telemetry(
            Settings(trace_exporter="none", metrics_exporter="prometheus", http_port=0)
        )
        # Same meter provider, so the same (already registered) instruments.
        self.telemetry = Telemetry(self._tracer_provider, self._metrics.telemetry.meter_provider)

    def scrape(self) -> int:
        """Collect every metric as a Prometheus scrape would; returns the body's size."""
        assert self._metrics.registry is not None
        return len(generate_latest(self._metrics.registry))

    async def close(self) -> None:
        """Flush and shut down both providers (spans still buffered are exported)."""
        await asyncio.to_thread(self._tracer_provider.shutdown)
        await self._metrics.close()


def bench_settings(postgres_dsn: str, redis_url: str) -> Settings:
    """Settings of the servers under load: any free port, no rate limits in the way."""
    return Settings(
        host="127.0.0.1",
        port=0,
        postgres_dsn=postgres_dsn,
        redis_url=redis_url,
        grace_period_s=2.0,
        rate_limits=UNLIMITED,
    )


async def measure_overhead(
    options: BenchOptions, postgres_dsn: str, redis_url: str
) -> OverheadResult:
    """Serve ``options.rounds`` rounds of (off, on) under load; the databases must be migrated.

    Progress goes to stderr, one line per window.
    """
    settings = bench_settings(postgres_dsn, redis_url)
    loop = asyncio.get_running_loop()
    run_id = uuid.uuid4().hex[:8]
    results: list[RoundResult] = []
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as load_process:
        await loop.run_in_executor(load_process, load_process_ready)
        for index in range(options.rounds):
            for configuration in CONFIGURATIONS:
                result = await _serve_round(
                    configuration,
                    options,
                    settings,
                    load_process,
                    merchant_prefix=f"bench_{run_id}_{index}_{configuration}",
                )
                results.append(result)
                _progress(index, options.rounds, result)
    rounds = tuple(results)
    return OverheadResult(
        options=options,
        rounds=rounds,
        off=ConfigurationSummary.of("off", rounds),
        on=ConfigurationSummary.of("on", rounds),
        event_loop=type(loop).__module__.partition(".")[0],
    )


async def _serve_round(
    configuration: str,
    options: BenchOptions,
    settings: Settings,
    load_process: ProcessPoolExecutor,
    merchant_prefix: str,
) -> RoundResult:
    telemetry_on = TelemetryOn(options.sample_ratio) if configuration == "on" else None
    telemetry = telemetry_on.telemetry if telemetry_on else Telemetry.disabled()
    scrape_bytes = 0
    try:
        services = await open_services(settings, telemetry)
        try:
            server = paycore_server(settings, services, telemetry=telemetry)
            port = await server.start()
            api_keys = await issue_bench_keys(services.pool, merchant_prefix, options.concurrency)
            try:
                load = asyncio.get_running_loop().run_in_executor(
                    load_process,
                    functools.partial(
                        run_load,
                        f"127.0.0.1:{port}",
                        seconds=options.seconds,
                        warmup_s=options.warmup_s,
                        api_keys=api_keys,
                    ),
                )
                with CpuSamples([os.getpid()]) as cpu:
                    if telemetry_on is not None:
                        # Mid-window, on the event loop, while the load runs.
                        await asyncio.wait([load], timeout=options.warmup_s + options.seconds / 2)
                        scrape_bytes = telemetry_on.scrape()
                    measured = await load
            finally:
                await server.stop(grace=settings.grace_period_s)
        finally:
            await services.close()
    finally:
        if telemetry_on is not None:
            await telemetry_on.close()
    return RoundResult(
        configuration=configuration,
        load=measured,
        spans_exported=telemetry_on.spans.exported if telemetry_on else 0,
        scrape_bytes=scrape_bytes,
        server_cpu_s=cpu.at(measured.window_end) - cpu.at(measured.window_start),
    )


def _progress(index: int, rounds: int, result: RoundResult) -> None:
    load = result.load
    p50, _, p99 = latency_percentiles_ms(load.latencies_s)
    errors = sum(load.errors.values())
    print(
        f"round {index + 1}/{rounds} {result.configuration:>3}: {load.throughput:8.1f} req/s"
        f"  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  errors {errors}"
        f"  server CPU {result.cpu_ms_per_call:.2f} ms/call",
        file=sys.stderr,
        flush=True,
    )


@contextmanager
def bench_databases() -> Iterator[tuple[str, str]]:
    """(postgres_dsn, redis_url): from PAYCORE_BENCH_* or embedded ones in a temporary dir."""
    external_pg = os.environ.get("PAYCORE_BENCH_POSTGRES_DSN") or None
    external_redis = os.environ.get("PAYCORE_BENCH_REDIS_URL") or None
    # Not under a private temporary folder of pytest: as root the embedded
    # PostgreSQL runs as its own user and must be able to reach the data dir.
    data_dir = Path(tempfile.mkdtemp(prefix="paycore-bench-data-"))
    try:
        embedded = start_embedded(
            Settings(data_dir=data_dir, postgres_dsn=external_pg, redis_url=external_redis)
        )
        try:
            yield embedded.postgres_dsn, embedded.redis_url
        finally:
            embedded.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def _migrate_and_measure(
    options: BenchOptions, postgres_dsn: str, redis_url: str
) -> OverheadResult:
    await migrate(postgres_dsn)
    return await measure_overhead(options, postgres_dsn, redis_url)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    defaults = BenchOptions()
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--sample-ratio", type=float, default=defaults.sample_ratio)
    parser.add_argument("--warmup", type=float, default=defaults.warmup_s, dest="warmup_s")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print the result as a RESULTS.md row, and add that row to bench/RESULTS.md."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1 or args.concurrency < 1:
        raise SystemExit("--seconds must be > 0, --rounds and --concurrency at least 1")
    if not 0.0 <= args.sample_ratio <= 1.0:
        raise SystemExit("--sample-ratio must be between 0 and 1")
    options = BenchOptions(
        seconds=args.seconds,
        rounds=args.rounds,
        concurrency=args.concurrency,
        sample_ratio=args.sample_ratio,
        warmup_s=args.warmup_s,
    )
    logging.basicConfig(level=logging.WARNING)
    with bench_databases() as (postgres_dsn, redis_url):
        result = run(_migrate_and_measure(options, postgres_dsn, redis_url), use_uvloop=True)
    if result.off.ok == 0 or result.on.ok == 0:
        raise SystemExit("no call succeeded in one configuration; nothing recorded")
    row = markdown_row(result_cells(result, git_revision(), command_line(MODULE, argv)))
    print(f"on/off = {result.ratio:.3f} (cost {result.cost_percent:.1f} %)")
    print(f"server CPU per call on/off = {result.cpu_ratio:.3f}")
    print(TABLE_HEADER)
    print(row)
    append_row(RESULTS_HEADING, row)


if __name__ == "__main__":
    main()
