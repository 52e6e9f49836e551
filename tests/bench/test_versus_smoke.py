"""bench/versus.py serves a checkout, drives it and reads the server's and Redis' costs.

Counts and shapes, not speed: this checkout stands in for the baseline.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from bench.harness import REPOSITORY
from bench.load import issue_bench_keys
from bench.record import RESULTS
from bench.versus import HEADINGS, measure_side, parse_options, summarise

pytestmark = pytest.mark.slow


async def test_a_window_measures_throughput_and_the_costs_per_create(
    postgres_dsn: str, redis_url: str
) -> None:
    options = parse_options(
        ["--baseline", str(REPOSITORY), "--seconds", "1", "--warmup", "0.5", "--concurrency", "4"]
    )
    prefix = f"versus_{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=2)
    try:
        keys = await issue_bench_keys(pool, prefix, options.concurrency)
    finally:
        await pool.close()

    window = await asyncio.to_thread(
        measure_side, "this", REPOSITORY, (postgres_dsn, redis_url), (prefix, keys), options
    )

    assert window.throughput > 0
    assert window.errors == 0
    assert window.server_cpu_ms > 0
    assert window.redis_commands > 0  # the gate's script and what it runs, at least
    assert window.redis_reads > 0
    assert window.pg_commits > 0  # each create commits twice, at least
    results = RESULTS.read_text().splitlines()
    for section, heading in HEADINGS.items():
        lines, cells = summarise([(window, window)], section)
        assert any(line.startswith("median throughput") for line in lines)
        header = next(
            line for line in results[results.index(heading) :] if line.startswith("| Date")
        )
        # Date, commit, command and baseline come from main(); the rest from summarise().
        assert len(cells) + 4 == header.count("|") - 1, section
