"""The telemetry overhead benchmark's machinery works; its figures live in bench/RESULTS.md.

No speed is asserted here: a timed test on a shared machine measures the neighbours.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.record import append_row, command_line, markdown_row
from bench.telemetry_overhead import measure_overhead
from bench.telemetry_report import RESULTS_HEADING, TABLE_HEADER, BenchOptions, result_cells


async def test_benchmark_serves_both_configurations_and_computes_the_ratio(
    postgres_dsn: str, redis_url: str
) -> None:
    # A window long enough for calls to complete on a loaded runner (0.5 s once saw none).
    options = BenchOptions(seconds=2.0, rounds=1, concurrency=4, sample_ratio=1.0, warmup_s=0.5)

    result = await measure_overhead(options, postgres_dsn, redis_url)

    assert [r.configuration for r in result.rounds] == ["off", "on"]
    for summary in (result.off, result.on):
        assert summary.ok > 0  # calls completed (a count, not a speed)
        assert summary.errors == 0
        assert len(summary.throughputs) == 1
        assert 0 < summary.p50_ms <= summary.p95_ms <= summary.p99_ms
        assert summary.cpu_ms > 0  # the server's CPU was read over the window
    assert math.isclose(result.ratio, result.on.throughput / result.off.throughput)
    assert math.isclose(result.cost_percent, (1 - result.ratio) * 100)
    assert result.pair_ratios == (result.ratio,)
    # Telemetry on really recorded: every trace sampled, metrics scraped mid-window.
    off_round, on_round = result.rounds
    assert (off_round.spans_exported, off_round.scrape_bytes) == (0, 0)
    assert on_round.spans_exported > 0
    assert on_round.scrape_bytes > 0

    cells = result_cells(result, "abc1234", "python -m bench.telemetry_overhead")
    assert len(cells) == TABLE_HEADER.splitlines()[0].count("|") - 1


def test_a_result_row_goes_below_its_benchmarks_table(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(
        f"# Results\n\n{RESULTS_HEADING}\n\nText.\n\n{TABLE_HEADER}\n| old |\n\n## Other\n\n| x |\n"
    )

    append_row(RESULTS_HEADING, markdown_row(["new", "a|b"]), results)

    lines = results.read_text().splitlines()
    assert lines[lines.index("| old |") + 1] == "| new | a\\|b |"
    assert lines[-1] == "| x |"


def test_the_recorded_command_can_be_pasted_again(monkeypatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "clients/python:.")

    command = command_line("bench.telemetry_overhead", ["--seconds", "8", "--note", "a b"])

    assert command == (
        "PYTHONPATH=clients/python:. python -m bench.telemetry_overhead --seconds 8 --note 'a b'"
    )
