"""bench/telemetry_calls.py and bench/gate_cost.py run and report a figure per configuration.

Shapes, not speed (a timed test on a shared machine measures the neighbours).
"""

from __future__ import annotations

import pytest

from bench import gate_cost, telemetry_calls


def test_telemetry_calls_reports_off_on_and_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    telemetry_calls.main(["--calls", "200", "--rounds", "1"])

    printed = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].strip() for line in printed] == ["off", "on", "metrics"]


async def test_gate_cost_measures_each_round(redis_url: str) -> None:
    rounds = await gate_cost.measure(redis_url, concurrency=3, calls=4, rounds=2)

    assert len(rounds) == 2
    assert all(cpu_us > 0 for cpu_us in rounds)
