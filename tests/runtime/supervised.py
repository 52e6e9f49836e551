"""Worker scenarios for test_supervisor.py, each run in a fresh interpreter.

    python tests/runtime/supervised.py SCENARIO OUT_DIR

A fresh process, because run_workers installs signal handlers and forks, which a
test should not do to the pytest process. Workers leave marker files in OUT_DIR:
``worker-N`` (its pid, once it is ready for signals) and ``stopped-N`` (it saw SIGTERM
and exits cleanly). The scenario's exit code is what run_workers returned.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from core.runtime.supervisor import run_workers


def main() -> int:
    scenario, out = sys.argv[1], Path(sys.argv[2])
    logging.basicConfig(level=logging.INFO, format="[%(process)d] %(name)s: %(message)s")

    def ready(index: int) -> None:
        (out / f"worker-{index}").write_text(str(os.getpid()))

    def serve_until_sigterm(index: int) -> None:
        stopping: list[int] = []

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGTERM, on_sigterm)
        signal.signal(signal.SIGINT, on_sigterm)
        ready(index)
        while not stopping:
            time.sleep(0.02)
        (out / f"stopped-{index}").write_text(str(stopping[0]))

    def crash_once_others_run(index: int) -> None:
        if index != 1:
            serve_until_sigterm(index)
            return
        while not ((out / "worker-0").exists() and (out / "worker-2").exists()):
            time.sleep(0.02)
        raise RuntimeError("worker 1 crashes")

    def ignore_sigterm(index: int) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        ready(index)
        time.sleep(60)

    scenarios: dict[str, tuple[int, Callable[[int], None]]] = {
        "ready": (3, ready),
        "serve": (2, serve_until_sigterm),
        "crash": (3, crash_once_others_run),
        "stuck": (2, ignore_sigterm),
    }
    count, target = scenarios[scenario]
    return run_workers(count, target, stop_timeout_s=1.0)


if __name__ == "__main__":
    sys.exit(main())
