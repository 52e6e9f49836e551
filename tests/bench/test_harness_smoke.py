"""The throughput harness runs both servers with one generator and measures them.

Counts and shapes, not speed (a timed test on a shared machine measures the
neighbours): both servers answered every call of every scenario at saturation
and open loop, with the worker count asked for, their process trees, the
generators, PostgreSQL's and Redis' costs were measured, the curve has its
steps, the plots are PNGs and the rows fit RESULTS.md's tables.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from bench import curve, h2load, report
from bench.harness import HEADING, Round, measure_on, parse_options
from bench.load import latency_percentiles_ms
from bench.record import RESULTS
from bench.servers import Measured

pytestmark = pytest.mark.slow

SCENARIOS = ("create", "get", "list", "create-token")


def _check_measured(measured: Measured, workers: int) -> None:
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


def _check_round(round_: Round, workers: int, with_h2load: bool) -> None:
    for server in (round_.echo, round_.paycore):
        assert list(server.windows) == list(SCENARIOS)
        for window in server.windows.values():
            _check_measured(window.measured, workers)
        opened = server.open_loops["create"]
        _check_measured(opened.measured, workers)
        peak = server.windows["create"].measured.load.throughput
        assert opened.offered_rate == pytest.approx(max(1.0, peak / 2))
        assert opened.measured.load.send_lag_p99_s > 0
        assert (server.h2load is not None) == with_h2load
        if server.h2load is not None:
            assert server.h2load.load.ok > 0
            assert server.h2load.load.errors == {}
            assert server.h2load.load.generator_cpu_s > 0
    for window in round_.echo.windows.values():
        assert window.costs is None  # the echo touches neither PostgreSQL nor Redis
    for scenario, window in round_.paycore.windows.items():
        costs = window.costs
        assert costs is not None
        assert costs.calls >= window.measured.load.ok
        assert costs.redis_commands > 0  # the gate's script, reads included
        if scenario.startswith("create"):
            assert costs.redis_cpu_s > 0
        else:
            # Reads lease their tokens a few at a time (core/redis/read_leases.py): a
            # short window's few scripts may cost Redis less than one CPU clock tick.
            assert costs.redis_cpu_s >= 0
        assert costs.batches is None  # no group-commit writer on this branch yet
        if scenario.startswith("create"):
            # Two transactions per create at least (a write, then the capture).
            assert costs.commits >= costs.calls
        assert round_.ratio(scenario) > 0


# Two servers, four scenarios and a curve: minutes on a busy 2-CPU runner.
@pytest.mark.timeout(600)
async def test_the_harness_measures_every_scenario_on_both_servers_per_worker_count(
    postgres_dsn: str, redis_url: str, tmp_path: Path
) -> None:
    with_h2load = h2load.available()  # apt-get install nghttp2-client; optional
    options = parse_options(
        ["--seconds", "1", "--warmup", "0.5", "--concurrency", "4", "--rounds", "1"]
        + ["--workers", "1", "2", "--curve", "--curve-steps", "0.2", "1.1"]
        + ["--curve-seconds", "1"]
        + (["--h2load"] if with_h2load else [])
    )

    runs = await asyncio.to_thread(measure_on, options, postgres_dsn, redis_url)

    assert [run.workers for run in runs] == [1, 2]
    for run in runs:
        assert len(run.rounds) == 1
        _check_round(run.rounds[0], run.workers, with_h2load)
        assert [c.server for c in run.curves] == ["echo", "paycore"]
        for one in run.curves:
            assert [p.offered for p in one.points] == [
                pytest.approx(max(1.0, one.peak * f)) for f in (0.2, 1.1)
            ]
            assert all(p.served > 0 for p in one.points)
    picture, curves = tmp_path / "latency.png", tmp_path / "curve.png"
    await asyncio.to_thread(report.plot, runs, picture, "smoke", options)
    await asyncio.to_thread(curve.plot_curves, [c for r in runs for c in r.curves], curves, "smoke")
    for png in (picture, curves):
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    header = _table_header(RESULTS.read_text(), HEADING)
    assert len(report.result_cells(runs[0], "get", options)) + 3 == header.count("|") - 1
    curve_header = _table_header(RESULTS.read_text(), curve.HEADING)
    assert len(curve.result_lines(runs[0].curves)[0]) + 3 == curve_header.count("|") - 1


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
    with pytest.raises(SystemExit):
        parse_options(["--scenarios", "get", "--open-scenarios", "create"])
    with pytest.raises(SystemExit):
        parse_options(["--rounds", "0"])
    assert parse_options(["--workers", "1", "2"]).workers == [1, 2]
