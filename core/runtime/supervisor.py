"""Several server processes on one port: fork them, forward signals, reap them.

Why fork, and why before anything gRPC exists: one Python process serves on one
core (the GIL), so ``workers > 1`` runs that many processes, each with its own event
loop and grpc.aio server bound to the same port with SO_REUSEPORT; the kernel
spreads incoming connections across them. gRPC's C core starts threads and
epoll/completion-queue state when the first channel or server is created, and
fork(2) copies only the calling thread: a child forked after that inherits locks
held by threads that no longer exist and an event engine that is not its own, and
hangs or crashes. grpc's fork support (GRPC_ENABLE_FORK_SUPPORT) covers sync
clients only, not grpc.aio servers. So the parent forks first and every child
imports and builds its gRPC objects itself; the parent never touches gRPC. The
same goes for event loops and open connections: the parent may have used asyncio
(migrations) but holds no running loop or socket when it forks.

The parent restarts nothing: if a worker dies on its own, the others are stopped
and ``run_workers`` reports failure, leaving restarts to whatever runs paycore
(systemd, Kubernetes), which sees the whole service fail rather than a silently
degraded one.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def run_workers(
    count: int, target: Callable[[int], None], *, stop_timeout_s: float | None = None
) -> int:
    """Run ``target(index)`` for index 0..count-1, each in a process of its own.

    ``count == 1`` calls ``target(0)`` here, without forking. Otherwise the parent
    forwards SIGTERM and SIGINT to the children and waits for them all; if one
    fails (exits non-zero or dies by a signal) unasked, the others get SIGTERM.
    Once stopping, children still alive after ``stop_timeout_s`` are killed (None:
    wait for ever).

    Returns the exit code for the process: 0 when every child ended cleanly, 1 otherwise.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if count == 1:
        return _run_here(target)
    if threading.active_count() > 1:
        log.warning(
            "forking with %d threads running; only this one survives in the children",
            threading.active_count(),
        )
    return _Supervisor(stop_timeout_s).run(count, target)


def _run_here(target: Callable[[int], None]) -> int:
    try:
        target(0)
    except Exception:
        log.exception("the server failed")
        return 1
    return 0


class _Supervisor:
    def __init__(self, stop_timeout_s: float | None) -> None:
        self._stop_timeout_s = stop_timeout_s
        self._children: dict[int, int] = {}  # pid -> worker index
        self._stop_signal: int | None = None  # the signal we forwarded, once stopping
        self._deadline: float | None = None
        self._failed = False

    def run(self, count: int, target: Callable[[int], None]) -> int:
        previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}
        for sig in _STOP_SIGNALS:
            signal.signal(sig, self._on_signal)
        try:
            for index in range(count):
                if self._stop_signal is not None:
                    break  # told to stop while starting: fork no more
                self._fork(index, target)
            self._reap_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 1 if self._failed else 0

    def _fork(self, index: int, target: Callable[[int], None]) -> None:
        # Signals stay blocked across fork() until each side is ready for them: the
        # parent until the child's pid is in _children (else a SIGTERM arriving now
        # would miss it), the child until it has dropped the parent's handlers (else
        # it would run _on_signal and "forward" to its siblings).
        with _signals_blocked():
            sys.stdout.flush()
            sys.stderr.flush()
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                _child(index, target, parent)
            self._children[pid] = index
        log.info("started worker %d (pid %d)", index, pid)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop_signal is None:
            log.info(
                "received %s; stopping %d workers", signal.Signals(signum).name, len(self._children)
            )
            self._begin_stop(signum)
        else:
            self._send(signum)  # asked again: pass it on again

    def _begin_stop(self, signum: int) -> None:
        self._stop_signal = signum
        if self._stop_timeout_s is not None:
            self._deadline = time.monotonic() + self._stop_timeout_s
        self._send(signum)

    def _send(self, signum: int) -> None:
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _reap_all(self) -> None:
        # Polling with WNOHANG, not a blocking wait: it reaps only our own children
        # (not, say, a pg_ctl someone else spawned) and lets the deadline be checked.
        while self._children:
            reaped = False
            for pid in list(self._children):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    self._on_exit(pid, os.waitstatus_to_exitcode(status))
                    reaped = True
            if self._deadline is not None and time.monotonic() > self._deadline and self._children:
                log.error(
                    "workers %s still running after %.0f s; killing them",
                    sorted(self._children.values()),
                    self._stop_timeout_s,
                )
                self._failed = True
                self._deadline = None
                self._send(signal.SIGKILL)
            if not reaped:
                time.sleep(0.05)

    def _on_exit(self, pid: int, code: int) -> None:
        index = self._children.pop(pid)
        if code == 0 or (self._stop_signal is not None and _is_clean_stop(code, self._stop_signal)):
            # Exit 0 unasked is a worker that finished (someone signalled it
            # directly, say): the others keep running.
            log.info(
                "worker %d (pid %d) %s", index, pid, "stopped" if self._stop_signal else "exited"
            )
            return
        self._failed = True
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        if self._stop_signal is None:
            log.error("worker %d (pid %d) %s; stopping the others", index, pid, how)
            self._begin_stop(signal.SIGTERM)
        else:
            log.error("worker %d (pid %d) %s while stopping", index, pid, how)


def _is_clean_stop(code: int, signum: int) -> bool:
    """0, or death by the very signal we forwarded (a child that had not yet set up handlers)."""
    return code in (0, -signum, 128 + signum)


def _child(index: int, target: Callable[[int], None], parent: int) -> NoReturn:
    """Body of a forked worker; never returns into the parent's code."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # Own process group: a Ctrl-C in the terminal reaches only the parent, which
        # forwards it once, instead of every worker getting it twice.
        os.setpgid(0, 0)
        _die_with_parent(parent)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        target(index)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 128 + signal.SIGINT
    except BaseException:
        log.exception("worker %d failed", index)
    finally:
        logging.shutdown()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        # os._exit: the parent's atexit handlers and finally blocks (stopping the
        # embedded databases, say) belong to the parent and must not run here.
        os._exit(code)


def _die_with_parent(parent: int) -> None:
    """Have the kernel SIGTERM this worker if the parent dies (Linux), so none is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(1)


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
