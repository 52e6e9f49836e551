"""Starting, sharing and stopping the embedded servers of one data dir.

``start_embedded`` starts whichever of PostgreSQL and Redis the settings leave unset;
``_DataDirLease`` counts the paycore processes using the data dir, so the last one
to leave stops them.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from core.config import Settings, redact_url
from core.runtime.embedded.postgres import start_postgres, stop_postgres
from core.runtime.embedded.redis import start_redis, stop_redis

log = logging.getLogger(__name__)


class EmbeddedServices:
    """Where to connect, and the handle that stops what ``start_embedded`` started."""

    def __init__(self, postgres_dsn: str, redis_url: str, lease: _DataDirLease | None) -> None:
        self.postgres_dsn = postgres_dsn
        """DSN for asyncpg; for the embedded server a unix-socket URI."""
        self.redis_url = redis_url
        """URL for redis-py; for the embedded server ``unix:///.../redis.sock``."""
        self._lease = lease

    def stop(self) -> None:
        """Leave the data dir; the last process to leave stops PostgreSQL and Redis.

        Idempotent. SIGINT and SIGTERM are held back while it runs, so a second
        Ctrl-C cannot interrupt a shutdown half way; they arrive when it returns.
        """
        lease, self._lease = self._lease, None
        if lease is None:
            return
        with _signals_deferred():
            lease.leave()

    def __enter__(self) -> EmbeddedServices:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_embedded(settings: Settings) -> EmbeddedServices:
    """Start (or adopt) PostgreSQL and/or Redis for the settings that leave them unset.

    With both ``postgres_dsn`` and ``redis_url`` set nothing is started and
    ``stop()`` does nothing. Logs one line naming the PostgreSQL and Redis in use.
    """
    postgres_dsn, redis_url = settings.postgres_dsn, settings.redis_url
    lease = None
    if postgres_dsn is None or redis_url is None:
        data_dir = settings.data_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        lease = _DataDirLease(data_dir)
        embedded_dsn, embedded_url = lease.join(
            postgres=postgres_dsn is None, redis=redis_url is None
        )
        postgres_dsn = postgres_dsn or embedded_dsn
        redis_url = redis_url or embedded_url
    assert postgres_dsn is not None and redis_url is not None
    log.info(
        "PostgreSQL: %s; Redis: %s",
        _describe(settings.postgres_dsn, settings.data_dir / "postgres"),
        _describe(settings.redis_url, settings.data_dir / "redis"),
    )
    return EmbeddedServices(postgres_dsn, redis_url, lease)


def _describe(configured: str | None, folder: Path) -> str:
    if configured is None:
        return f"embedded in {folder.expanduser().resolve()}"
    return f"external at {redact_url(configured)}"


class _DataDirLease:
    """Counts the processes using one data dir with two flock(2) locks the kernel keeps.

    ``users.lock``: every user holds it shared for as long as it uses the services.
    A process that dies, even by SIGKILL, loses its lock with it, so the count never
    goes stale the way a file of pids can. The last user is the one that can take
    it exclusive after dropping its own share, and only it stops the services.

    ``transition.lock``: held exclusive while services start or stop, so two
    processes never start the same server at once and a starter never races the
    last user's stop.

    flock(2) locks belong to the open file, not to the process: forked workers share
    the parent's lock, and it is released only when the last holder closes it.
    """

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._users_fd: int | None = None

    def join(self, *, postgres: bool, redis: bool) -> tuple[str | None, str | None]:
        """Register as a user and start the services asked for, unless running already."""
        with self._transition():
            self._users_fd = _open_lock(self._data_dir / "users.lock")
            fcntl.flock(self._users_fd, fcntl.LOCK_SH)
            try:
                dsn = start_postgres(self._data_dir / "postgres") if postgres else None
                url = start_redis(self._data_dir / "redis") if redis else None
            except BaseException:
                self._leave_locked()
                raise
        return dsn, url

    def leave(self) -> None:
        """Deregister; if no other process uses the data dir, stop its services."""
        with self._transition():
            self._leave_locked()

    @contextlib.contextmanager
    def _transition(self) -> Iterator[None]:
        fd = _open_lock(self._data_dir / "transition.lock")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def _leave_locked(self) -> None:
        if self._users_fd is not None:
            os.close(self._users_fd)
            self._users_fd = None
        probe = _open_lock(self._data_dir / "users.lock")
        try:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info(
                    "other paycore processes use %s; leaving its services running", self._data_dir
                )
                return
            stop_redis(self._data_dir / "redis")
            stop_postgres(self._data_dir / "postgres")
        finally:
            os.close(probe)


def _open_lock(path: Path) -> int:
    # os.open is close-on-exec (PEP 446): the servers we exec never inherit a lock.
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread; pending ones are delivered on exit."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
