"""The embedded PostgreSQL 16: a cluster from the pgserver wheel, on a unix socket only.

``start_postgres`` initialises the cluster on first use (atomically: a scratch folder
renamed into place), adopts a server already running in the folder, or starts one;
``stop_postgres`` is PostgreSQL's own fast shutdown. As root, PostgreSQL runs as a
dedicated account, since it refuses to run as root.
"""

from __future__ import annotations

import logging
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from core.runtime.embedded.daemons import (
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    EmbeddedServiceError,
    socket_folder,
    wait_until,
    wheel_file,
    works_in,
)

log = logging.getLogger(__name__)

# As root, PostgreSQL refuses to run; pgserver uses this account, and so do we.
_PG_SYSTEM_USER = "pgserver"


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


def start_postgres(pgdata: Path) -> str:
    """Initialise the cluster if new, start it unless running; return its DSN."""
    if not (pgdata / "PG_VERSION").exists():
        _initialise_cluster(pgdata)
    _grant_postgres_access(pgdata)
    user = _postgres_user()
    postmaster = _Postmaster.read(pgdata)
    if postmaster is not None and works_in(postmaster.pid, pgdata):
        log.info("PostgreSQL already runs in %s (pid %d); using it", pgdata, postmaster.pid)
    else:
        if (pgdata / "postmaster.pid").exists():
            # A crash left it behind. PostgreSQL would itself ignore it if the pid were
            # dead, but refuses to start if the pid now belongs to another process.
            log.info("removing stale %s", pgdata / "postmaster.pid")
            (pgdata / "postmaster.pid").unlink()
        socket_dir = socket_folder(pgdata, ".s.PGSQL.5432")
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
    ready = wait_until(
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


def stop_postgres(pgdata: Path) -> None:
    """Clean shutdown ("fast": roll back open transactions, checkpoint, exit).

    SIGINT to the postmaster is PostgreSQL's own fast shutdown, which is what
    ``pg_ctl stop -m fast`` sends; signalling it directly and watching the pid go
    spares the wheel's pg_ctl, which sometimes died by SIGSEGV while it waited and
    then left a server running that the caller believed stopped.
    """
    postmaster = _Postmaster.read(pgdata)
    if postmaster is None or not works_in(postmaster.pid, pgdata):
        return
    try:
        os.kill(postmaster.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    if wait_until(lambda: not works_in(postmaster.pid, pgdata), STOP_TIMEOUT_S):
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
    bin_dir = wheel_file("pgserver", "pginstall/bin")
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(bin_dir)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_dir, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(bin_dir.parent / "lib", readable)
    if pgdata.stat().st_uid != account.pw_uid:
        os.chown(pgdata, account.pw_uid, account.pw_gid)


def _run_postgres_program(program: str, args: list[str], user: str | None) -> None:
    """Run one of the wheel's PostgreSQL programs; raise with its output if it fails."""
    command = [str(wheel_file("pgserver", f"pginstall/bin/{program}")), *args]
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
