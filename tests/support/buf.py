"""Run the ``buf`` CLI (the buf-bin dev dependency) of the interpreter running the tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


def buf_executable() -> str:
    """The buf beside this Python, else the one on PATH; fails the test when neither exists."""
    beside_python = VENV_BIN / "buf"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("buf")
    if found is None:
        pytest.fail("buf is not installed; install the dev extra (buf-bin)")
    return found


def run_buf(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``buf *args`` in ``cwd``, output captured, never raising on a non-zero exit."""
    # Plugins in buf.gen.yaml are looked up on PATH (python, protoc-gen-mypy):
    # use the ones of the interpreter running the tests.
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [buf_executable(), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def output(process: subprocess.CompletedProcess[str]) -> str:
    """Exit code, stdout and stderr of a finished process, for an assertion message."""
    return f"exit {process.returncode}\n--- stdout\n{process.stdout}\n--- stderr\n{process.stderr}"
