"""A ``paycore run`` process for the docs' examples, and a shell that runs them as written."""

from __future__ import annotations

import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2

from core.config import Settings
from core.runtime.embedded import start_embedded
from tests.runtime.processes import REPO_ROOT, clean_environment, free_port, health, wait_for

# The address and the venv the docs' examples name; the shell maps them to the test's.
DOCS_ADDRESS = "127.0.0.1:50051"
SERVING = health_pb2.HealthCheckResponse.SERVING


@dataclass(frozen=True)
class DocsPaycore:
    """A running paycore (embedded PostgreSQL and Redis in ``data_dir``) on ``port``."""

    port: int
    data_dir: Path
    workdir: Path

    def shell(self, script: str, **variables: str) -> subprocess.CompletedProcess[str]:
        """Run ``script`` in bash as a reader would, from a folder whose ``.venv/bin`` runs
        this checkout with this interpreter, against this paycore."""
        env = clean_environment(PAYCORE_DATA_DIR=str(self.data_dir), **variables)
        env["PATH"] = f"{self.workdir / '.venv' / 'bin'}:{env.get('PATH', '')}"
        return subprocess.run(
            [
                "bash",
                "-euo",
                "pipefail",
                "-c",
                script.replace(DOCS_ADDRESS, f"127.0.0.1:{self.port}"),
            ],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )


def _shims(workdir: Path) -> None:
    """``.venv/bin/python`` and ``.venv/bin/paycore`` as the docs call them, whatever
    environment runs the suite (a symlink would not find that venv's packages)."""
    bin_dir = workdir / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, command in (("python", ""), ("python3", ""), ("paycore", "-m core.cli")):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" {command} "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    buf = Path(sys.executable).parent / "buf"
    if buf.exists():
        (bin_dir / "buf").symlink_to(buf)


@pytest.fixture(scope="module")
def docs_paycore() -> Iterator[DocsPaycore]:
    """``paycore run`` on a data dir of its own, as ``make run`` starts it."""
    # Not under pytest's tmp_path: see tests/runtime/conftest.py (data_dir).
    root = Path(tempfile.mkdtemp(prefix="paycore-docs-"))
    data_dir, workdir = root / "data", root / "work"
    _shims(workdir)
    port = free_port()
    log = root / "paycore.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "core.cli",
                "run",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=REPO_ROOT,
            env=clean_environment(),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: (
                server.poll() is not None or health(port) == health_pb2.HealthCheckResponse.SERVING
            ),
            timeout=90,
            what="paycore to serve",
        )
        assert server.poll() is None, log.read_text(errors="replace")
        yield DocsPaycore(port, data_dir, workdir)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            start_embedded(Settings(data_dir=data_dir)).stop()
        shutil.rmtree(root, ignore_errors=True)
