"""The servers a benchmark measures, as processes, and what their process trees used.

``paycore_server`` runs ``paycore run`` (of this checkout or another one, for
bench/versus.py), ``echo_server`` the gRPC ceiling (bench/echo_server.py), both
with ``--workers N``, until they listen with every worker. ``watched`` runs a load
(in generator processes of its own, ``in_processes``) and reads the server's CPU
over exactly the load's window, from /proc.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import CpuSamples, process_tree
from bench.load import LoadResult, merge_results

REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class ServerUse:
    """What a server's process tree used during one window."""

    cpu_s: float
    """CPU time of the tree during the load's measured window."""
    wall_s: float
    """That window, from the first generator's start to the last one's end."""
    rss_mb: tuple[float, ...]
    """Peak RSS (VmHWM) of each process of the tree, parent first."""

    @property
    def cores(self) -> float:
        """Cores the server kept busy on average."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def processes(self) -> int:
        """Processes in the tree."""
        return len(self.rss_mb)

    @property
    def peak_rss_mb(self) -> float:
        """The largest process's peak RSS."""
        return max(self.rss_mb, default=0.0)


@dataclass(frozen=True, slots=True)
class Measured:
    """One server under one load."""

    load: LoadResult
    use: ServerUse

    @property
    def per_core(self) -> float:
        """Calls served per second per server core busy (the figure docs/SCALING.md uses)."""
        return self.load.throughput / self.use.cores if self.use.cores else 0.0

    @property
    def cpu_ms_per_call(self) -> float:
        """Server CPU per call answered OK in the window, in ms (NaN when none was)."""
        return self.use.cpu_s / self.load.ok * 1000 if self.load.ok else float("nan")


def free_port(consecutive: int = 1) -> int:
    """A TCP port nothing listens on now, followed by ``consecutive - 1`` free ones.

    Workers serve /metrics on ``http_port + i``: a port the kernel picked is free,
    but the next one may be another process's (an outgoing connection's ephemeral
    port), so all of them are checked, holding each until the last is found.
    """
    while True:
        probes: list[socket.socket] = []
        try:
            first = socket.socket()
            probes.append(first)
            first.bind(("127.0.0.1", 0))
            port: int = first.getsockname()[1]
            for offset in range(1, consecutive):
                probe = socket.socket()
                probes.append(probe)
                probe.bind(("127.0.0.1", port + offset))
            return port
        except (OSError, OverflowError):
            continue  # a following port is taken (or past 65535): draw again
        finally:
            for probe in probes:
                probe.close()


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextmanager
def serve(
    args: Sequence[str],
    env: dict[str, str],
    port: int,
    workers: int,
    *,
    python: str = sys.executable,
    cwd: Path = REPOSITORY,
) -> Iterator[subprocess.Popen[bytes]]:
    """``python args`` in ``cwd`` (another checkout: bench/versus.py), until it listens."""
    process = subprocess.Popen(
        [python, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        # Listening is not enough with several workers: each binds on its own, so
        # wait until the tree has them all (the parent plus one per worker).
        while not (_listening(port) and len(process_tree(process.pid)) >= _expected(workers)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not start (exit {process.poll()})")
            time.sleep(0.2)
        time.sleep(1.0 + workers)  # let start-up work settle before measuring
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)  # a stalled server (issue 16's pool deadlock) may not drain
        except subprocess.TimeoutExpired:
            process.kill()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _expected(workers: int) -> int:
    return 1 if workers == 1 else workers + 1


def _environment(repository: Path = REPOSITORY, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYCORE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(repository), str(repository / "clients" / "python")])
    env.update(extra)
    return env


@contextmanager
def echo_server(port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """The ceiling, bench/echo_server.py, with ``workers`` processes on ``port``."""
    args = ["-m", "bench.echo_server", "--port", str(port), "--workers", str(workers)]
    with serve(args, _environment(), port, workers) as process:
        yield process


@contextmanager
def paycore_server(
    dsn: str,
    redis_url: str,
    port: int,
    workers: int,
    repository: Path = REPOSITORY,
    *,
    http_port: int = 0,
) -> Iterator[subprocess.Popen[bytes]]:
    """``paycore run`` of the checkout at ``repository`` (its own .venv unless it is this one).

    ``http_port``: worker i serves /metrics on ``http_port + i`` (0: free ports).
    """
    env = _environment(
        repository,
        PAYCORE_POSTGRES_DSN=dsn,
        PAYCORE_REDIS_URL=redis_url,
        PAYCORE_HTTP_PORT=str(http_port),
        PAYCORE_LOG_LEVEL="WARNING",
        # Saturation is the point: no rate limit in the way.
        PAYCORE_RATE_LIMITS__WRITES_PER_S="1000000",
        PAYCORE_RATE_LIMITS__WRITES_BURST="1000000",
        PAYCORE_RATE_LIMITS__READS_PER_S="1000000",
        PAYCORE_RATE_LIMITS__READS_BURST="1000000",
    )
    python = sys.executable if repository == REPOSITORY else str(repository / ".venv/bin/python")
    args = ["-m", "core.cli", "run", "--port", str(port), "--workers", str(workers)]
    with serve(args, env, port, workers, python=python, cwd=repository) as process:
        yield process


def in_processes(jobs: Sequence[Callable[[], LoadResult]]) -> LoadResult:
    """Each job in a generator process of its own, all at once; their results merged."""
    # Spawned, not forked: this process has used gRPC (the replay check), and a
    # fork after that inherits gRPC's threads' locks (see core/runtime/supervisor.py).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(jobs), mp_context=context) as pool:
        futures = [pool.submit(job) for job in jobs]
        return merge_results([future.result() for future in futures])


def watched(process: subprocess.Popen[bytes], drive: Callable[[], LoadResult]) -> Measured:
    """Run ``drive`` and measure the server's process tree over the load's window."""
    pids = process_tree(process.pid)
    with CpuSamples(pids) as samples:
        load = drive()
    wall = load.window_end - load.window_start
    cpu = samples.at(load.window_end) - samples.at(load.window_start)
    return Measured(load, ServerUse(cpu, wall, tuple(map(_peak_rss_mb, process_tree(process.pid)))))
