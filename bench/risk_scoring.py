"""Speed of risk scoring per transaction: feature computation + the rules, without Redis.

Times ``riskengine.screen`` (compute every feature, run every rule of
the shipped ``riskengine/default_rules.toml``, decide) on transactions of
the synthetic stream with fully populated velocity counters, one call at a
time, and reports p50/p99/max. The baseline in the same run is feature
computation alone, so the rules' own cost is the difference. The Redis round
trip is not included (it is measured by the service's traces: stage "risk").

    PYTHONPATH=clients/python:. python -m bench.risk_scoring [--transactions 50000]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable

from bench.record import append_result
from core.config import RiskSettings
from core.risk.rules_file import default_rules_path, load_rules
from riskengine import (
    DECLINE_ENTITIES,
    DECLINE_WINDOWS,
    ENTITIES,
    NO_LISTS,
    WINDOWS,
    FeatureSettings,
    RiskEngine,
    Transaction,
    Velocity,
    compute_features,
    screen,
)
from riskengine.synthetic import generate

HEADING = "## Risk scoring speed"
TARGET_P99_MS = 0.5


def _velocity(rng: random.Random) -> Velocity:
    counters = {}
    for entity in ENTITIES:
        for window in WINDOWS:
            counters[f"{entity}_count_{window}"] = rng.randrange(20)
            counters[f"{entity}_sum_{window}"] = rng.randrange(500_000)
    for entity in DECLINE_ENTITIES:
        for window in DECLINE_WINDOWS:
            counters[f"{entity}_declines_{window}"] = rng.randrange(4)
    return Velocity(counters, customer_tx_count=rng.randrange(6), customer_amount_sum=90_000)


def _timed(calls: list[Callable[[], object]]) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds of each call, run one at a time (GC off while timing).

    CPU time (this thread's) leaves out time the thread spent descheduled: on
    a shared machine the wall-clock tail measures the neighbours as much as
    the code, so both are reported.
    """
    wall, cpu = [], []
    gc.disable()
    try:
        for call in calls:
            started_cpu = time.thread_time_ns()
            started = time.perf_counter_ns()
            call()
            wall.append((time.perf_counter_ns() - started) / 1e6)
            cpu.append((time.thread_time_ns() - started_cpu) / 1e6)
    finally:
        gc.enable()
    return wall, cpu


def _p(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def main(argv: list[str] | None = None) -> None:
    """Measure, print and append the figures to bench/RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=50_000)
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args(argv)
    rng = random.Random(1)
    engine = RiskEngine(load_rules(default_rules_path()))
    settings = RiskSettings()
    stream = generate("bench", customers=400, attacks=10, seed=5)
    inputs: list[tuple[Transaction, Velocity]] = [
        (stream[i % len(stream)].transaction, _velocity(rng)) for i in range(args.transactions)
    ]
    feature_settings = FeatureSettings(
        settings.max_amount_minor, settings.review_amount_minor, engine.rules.bin_countries
    )

    def features_only(t: Transaction, v: Velocity) -> Callable[[], object]:
        return lambda: compute_features(t, v, NO_LISTS, feature_settings)

    def scored(t: Transaction, v: Velocity) -> Callable[[], object]:
        return lambda: screen(engine, settings, t, v, NO_LISTS)

    warm = min(5_000, len(inputs))
    _timed([scored(t, v) for t, v in inputs[:warm]])
    baseline, _ = _timed([features_only(t, v) for t, v in inputs])
    full, full_cpu = _timed([scored(t, v) for t, v in inputs])
    rules = len(engine.rules.rules)
    line = (
        f"{args.transactions} transactions, {rules} rules: features+rules p50 {_p(full, 50):.4f}"
        f" ms, p99 {_p(full, 99):.4f} ms, max {max(full):.3f} ms; features alone p50"
        f" {_p(baseline, 50):.4f} ms, p99 {_p(baseline, 99):.4f} ms; features+rules CPU time"
        f" p99 {_p(full_cpu, 99):.4f} ms (target p99 <= {TARGET_P99_MS} ms)"
    )
    print(line)
    if args.no_record:
        return
    argv_used = argv if argv is not None else sys.argv[1:]
    append_result(
        HEADING,
        "bench.risk_scoring",
        argv_used,
        [
            str(rules),
            f"{_p(full, 50):.4f} ms",
            f"{_p(full, 99):.4f} ms",
            f"{_p(baseline, 99):.4f} ms",
            f"{_p(full, 99) / _p(baseline, 99):.2f}",
            f"CPU-time p99 {_p(full_cpu, 99):.4f} ms; max {max(full):.3f} ms; GC disabled while"
            " timing; one call at a time;"
            f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        ],
    )


if __name__ == "__main__":
    main()
