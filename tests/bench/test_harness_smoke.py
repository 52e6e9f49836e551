"""The throughput harness runs both servers with one generator and measures them.

Counts and shapes, not speed (a timed test on a shared machine measures the
neighbours): both servers answered every call at saturation and open loop, with
the worker count asked for, their process trees and the generators were
measured, the plot is a PNG and the row fits RESULTS.md's table.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from bench import h2load
from bench.harness import HEADING, WorkerRun, measure_on, parse_options, plot, result_cells
from bench.load import latency_percentiles_ms
from bench.record import RESULTS

pytestmark = pytest.mark.slow


def _check_shape(run: WorkerRun, workers: int, with_h2load: bool) -> None:
    assert run.workers == workers
    for server in (run.ceiling, run.paycore):
        for measured in (server.saturation, server.open_loop):
            assert measured.load.ok > 0
            assert measured.load.errors == {}
            assert measured.use.cpu_s > 0
            assert measured.use.cores > 0
            assert measured.use.wall_s >= 1.0 - 1e-6  # the union of the processes' windows
            assert measured.per_core > 0
            assert all(mb > 0 for mb in measured.use.rss_mb)
            # One process, or a supervisor and one per worker.
            assert measured.use.processes == (1 if workers == 1 else workers + 1)
            assert measured.load.generator_cpu_s > 0
            assert measured.load.generator_cores > 0
            assert not any(map(math.isnan, latency_percentiles_ms(measured.load.latencies_s)))
        assert server.offered_rate == pytest.approx(max(1.0, server.saturation.load.throughput / 2))
        assert server.open_loop.load.send_lag_p99_s > 0
        assert (server.h2load is not None) == with_h2load
        if server.h2load is not None:
            assert server.h2load.load.ok > 0
            assert server.h2load.load.errors == {}
            assert server.h2load.load.generator_cpu_s > 0
    assert run.ratio > 0
    assert (run.h2load_ratio is not None) == with_h2load


async def test_the_harness_measures_both_servers_per_worker_count_in_one_run(
    postgres_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    with_h2load = h2load.available()  # apt-get install nghttp2-client; optional
    options = parse_options(
        ["--seconds", "1", "--warmup", "0.5", "--concurrency", "4", "--workers", "1", "2"]
        + (["--h2load"] if with_h2load else [])
    )

    runs = await asyncio.to_thread(measure_on, options, postgres_dsn, redis_url)

    assert [run.workers for run in runs] == [1, 2]
    for run in runs:
        _check_shape(run, run.workers, with_h2load)
    picture = tmp_path / "latency.png"
    await asyncio.to_thread(plot, runs, picture, "smoke")
    assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    header = _table_header(RESULTS.read_text(), HEADING)
    assert len(result_cells(runs[0], options)) + 3 == header.count("|") - 1


def _table_header(text: str, heading: str) -> str:
    lines = text.splitlines()
    at = lines.index(heading)
    return next(line for line in lines[at:] if line.startswith("|"))


def test_h2load_log_lines_count_2xx_as_ok_and_the_rest_by_status() -> None:
    log = "1700000000000000\t200\t1500\n1700000000000100\t200\t2500\n1700000000000200\t-1\t9\n"

    read = h2load.read_log(log)

    assert read.ok == 2
    assert read.errors == {"HTTP -1": 1}
    assert read.latencies_s == (0.0015, 0.0025)
    assert read.first_start == 1_700_000_000.0
    assert read.last_end == pytest.approx(1_700_000_000.0026)


def test_a_grpc_frame_is_the_message_behind_flag_and_big_endian_length() -> None:
    assert h2load.grpc_frame(b"abc") == b"\x00\x00\x00\x00\x03abc"


def test_the_options_refuse_what_cannot_run() -> None:
    with pytest.raises(SystemExit):
        parse_options(["--workers", "0"])
    with pytest.raises(SystemExit):
        parse_options(["--open-fraction", "1.5"])
    assert parse_options(["--workers", "1", "2"]).workers == [1, 2]
