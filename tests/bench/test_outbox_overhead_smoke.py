"""The outbox benchmark's machinery works; its figures live in bench/RESULTS.md (no speed here)."""

from __future__ import annotations

from bench.outbox_overhead import TABLE_HEADER, BenchOptions, measure, result_cells


async def test_benchmark_alternates_both_configurations(
    postgres_dsn: str,
) -> None:
    options = BenchOptions(seconds=0.3, rounds=1, concurrency=2, merchants=1)

    windows = await measure(options, postgres_dsn)

    assert [w.configuration for w in windows] == ["off", "on"]
    assert all(w.writes > 0 for w in windows)  # writes completed (a count, not a speed)
    cells = result_cells(windows, options, "abc1234", "python -m bench.outbox_overhead")
    assert len(cells) == TABLE_HEADER.splitlines()[0].count("|") - 1
