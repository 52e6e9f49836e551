"""run_workers: forks N workers, forwards stop signals, fails when a worker crashes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from core.runtime.supervisor import run_workers

from .processes import Spawn, run_python, wait_for

SCENARIOS = "tests/runtime/supervised.py"


def test_one_worker_runs_in_this_process_without_forking() -> None:
    seen: list[tuple[int, int]] = []

    assert run_workers(1, lambda index: seen.append((index, os.getpid()))) == 0

    assert seen == [(0, os.getpid())]


def test_one_worker_that_raises_makes_the_exit_code_nonzero() -> None:
    def fail(index: int) -> None:
        raise RuntimeError("boom")

    assert run_workers(1, fail) == 1


def test_each_forked_worker_runs_the_target_with_its_own_index(tmp_path: Path) -> None:
    result = run_python(SCENARIOS, "ready", str(tmp_path))

    assert result.returncode == 0, result.stderr
    pids = {int((tmp_path / f"worker-{index}").read_text()) for index in range(3)}
    assert len(pids) == 3
    assert all(pid > 0 for pid in pids)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_is_forwarded_to_every_worker_and_the_exit_is_clean(
    tmp_path: Path, spawn: Spawn, signum: signal.Signals
) -> None:
    parent = spawn(SCENARIOS, "serve", str(tmp_path))
    wait_for(lambda: all((tmp_path / f"worker-{i}").exists() for i in range(2)), what="workers")

    assert parent.stop(signum) == 0, parent.output()
    for index in range(2):
        assert (tmp_path / f"stopped-{index}").read_text() == str(int(signum))


def test_a_crashed_worker_stops_the_others_and_fails_the_parent(tmp_path: Path) -> None:
    result = run_python(SCENARIOS, "crash", str(tmp_path))

    assert result.returncode == 1
    assert "worker 1 crashes" in result.stderr
    assert "worker 1 (pid" in result.stderr and "stopping the others" in result.stderr
    assert (tmp_path / "stopped-0").exists()
    assert (tmp_path / "stopped-2").exists()


def test_workers_that_ignore_sigterm_are_killed_after_the_stop_timeout(
    tmp_path: Path, spawn: Spawn
) -> None:
    parent = spawn(SCENARIOS, "stuck", str(tmp_path))
    wait_for(lambda: all((tmp_path / f"worker-{i}").exists() for i in range(2)), what="workers")

    assert parent.stop(signal.SIGTERM) == 1
    assert "killing them" in parent.output()
    for index in range(2):
        pid = int((tmp_path / f"worker-{index}").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
