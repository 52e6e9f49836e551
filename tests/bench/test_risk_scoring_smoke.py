"""The risk scoring benchmark runs; its figures live in bench/RESULTS.md (no speed asserted)."""

from __future__ import annotations

import pytest

from bench import risk_scoring


def test_the_scoring_benchmark_runs_and_prints_its_figures(
    capsys: pytest.CaptureFixture[str],
) -> None:
    risk_scoring.main(["--transactions", "300", "--no-record"])
    printed = capsys.readouterr().out
    assert "300 transactions" in printed and "p99" in printed
