"""The throughput harness runs both servers with one generator and measures them.

Counts, not speed (a timed test on a shared machine measures the neighbours):
both servers answered every call, and their process trees were measured.
"""

from __future__ import annotations

import asyncio

import pytest

from bench.harness import measure_on, parse_options

pytestmark = pytest.mark.slow


async def test_the_harness_measures_the_ceiling_and_paycore_with_one_generator(
    postgres_dsn: str, redis_url: str
) -> None:
    options = parse_options(["--seconds", "1", "--warmup", "0.5", "--concurrency", "4"])

    ceiling, paycore = await asyncio.to_thread(measure_on, options, postgres_dsn, redis_url)

    for measured in (ceiling, paycore):
        assert measured.load.ok > 0
        assert measured.load.errors == {}
        assert measured.use.cpu_s > 0
        assert measured.use.peak_rss_mb > 0
        assert measured.use.processes >= 1
