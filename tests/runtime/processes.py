"""Run paycore code in child processes with a clean environment (runtime tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]

Spawn = Callable[..., "Background"]
"""The ``spawn`` fixture (tests/runtime/conftest.py): ``python ARGS`` in the background."""


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without PAYCORE_* settings, plus ``variables``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PAYCORE_")}
    # The child imports this checkout (core/, clients/python/paycore) even where
    # paycore is not installed, as in a bare virtualenv.
    paths = [str(REPO_ROOT), str(REPO_ROOT / "clients" / "python"), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    # Any free port for the metrics/health HTTP endpoint, so a test never
    # collides with another process on the default 9464.
    env["PAYCORE_HTTP_PORT"] = "0"
    # The tests read the log as people do (log_format "auto" would write JSON to a file).
    env["PAYCORE_LOG_FORMAT"] = "text"
    # As in the in-process test server (tests/conftest.py): a task that holds a
    # pooled connection and asks for another fails instead of deadlocking later.
    env["PAYCORE_PG_REFUSE_NESTED_ACQUIRE"] = "true"
    env.update(variables)
    return env


def run_python(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` from the repository root; output captured as text."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=clean_environment(**variables),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def health(port: int) -> int:
    """The overall gRPC health status of a server on ``port``, or -1 while nothing answers."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=2
            )
        except grpc.RpcError:
            return -1
        return int(response.status)


def wait_for(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def start_paycore(
    spawn: Spawn, *args: str, data_dir: Path | None = None, **variables: str
) -> tuple[Background, int]:
    """``paycore run ARGS`` as a process of its own on a free port, once it serves.

    PostgreSQL and Redis are embedded under ``data_dir`` unless ``variables`` name
    others (``PAYCORE_POSTGRES_DSN``, ``PAYCORE_REDIS_URL``); any ``PAYCORE_*``
    variable overrides a setting. In this process instead: tests/support/serving.py.
    """
    port = free_port()
    where = ("--data-dir", str(data_dir)) if data_dir is not None else ()
    server = spawn("-m", "core.cli", "run", "--port", str(port), *where, *args, **variables)
    wait_until_serving(server, port)
    return server, port


def wait_until_serving(server: Background, port: int) -> None:
    """Wait until paycore answers SERVING on ``port``; fail with its output if it exited."""
    wait_for(
        lambda: (
            server.process.poll() is not None
            or health(port) == health_pb2.HealthCheckResponse.SERVING
        ),
        timeout=90,
        what="paycore to serve",
    )
    assert server.process.poll() is None, server.output()


@dataclass(frozen=True)
class Background:
    """A process started by the ``spawn`` fixture; its stdout and stderr go to ``log``."""

    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``signum`` and wait for the exit code."""
        self.process.send_signal(signum)
        return self.process.wait(timeout)
