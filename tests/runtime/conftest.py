"""Fixtures for runtime tests."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import Settings
from core.runtime.embedded import start_embedded

from .processes import REPO_ROOT, Background, Spawn, clean_environment


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """An empty data dir for embedded services, deleted afterwards.

    Not under pytest's tmp_path: as root, the embedded PostgreSQL runs as another
    account that must traverse the folders above its data, and every pytest session
    that starts (another developer's, say) makes pytest's base folder 0700 again,
    which would lock a PostgreSQL being initialised there out of its own files.
    """
    path = Path(tempfile.mkdtemp(prefix="paycore-test-"))
    yield path
    if any(path.glob("postgres/postmaster.pid")) or any(path.glob("redis/redis.pid")):
        # A failed test left servers behind (a paycore killed by `spawn`): stop them.
        start_embedded(Settings(data_dir=path)).stop()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def spawn(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[Spawn]:
    """Start ``python ARGS`` in the background (output to a file); killed at teardown.

    It asks for ``data_dir`` only to be torn down before it: what it kills may have
    left servers running there, which ``data_dir`` then stops.
    """
    started: list[Background] = []

    def start(*args: str, **variables: str) -> Background:
        log = tmp_path_factory.mktemp("spawned") / "output.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO_ROOT,
                env=clean_environment(**variables),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started.append(Background(process, log))
        return started[-1]

    yield start
    for background in started:
        if background.process.poll() is None:
            background.process.send_signal(signal.SIGKILL)
            background.process.wait()
