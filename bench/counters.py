"""What a window cost outside paycore's process: PostgreSQL, Redis, and paycore's own metrics.

- PostgreSQL: commits (``pg_stat_database.xact_commit`` of the database) and
  statements (``pg_stat_statements`` calls, BEGIN and COMMIT included: with
  asyncpg each statement is one round trip) over a run, and the CPU of the
  postmaster's whole process tree (backends, WAL writer, checkpointer). The
  statement count needs ``shared_preload_libraries = 'pg_stat_statements'``:
  without it the count is None. The CPU means something only when the server
  serves nobody else (the embedded one ``bench_databases`` starts does).
- Redis: its server process's CPU, its commands (INFO commandstats, those its
  scripts run included) and its socket reads (one per round trip that reached it).
- paycore's /metrics, when it serves one: ``BATCH_METRIC``, the rows per
  group-committed batch, a hook for the group-commit writer; absent, None.

Counters are read around the whole run (warm-up included) and divided by the
calls answered OK in it (``LoadResult.total_ok``): PostgreSQL publishes its
statistics up to a second late, hence ``STATS_DELAY_S`` before reading after.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis

from bench.cpu import CpuSamples
from bench.load import LoadResult
from bench.scenarios import Context
from bench.servers import Measured, watched

STATS_DELAY_S = 1.2
"""PostgreSQL backends publish their counters at most once a second (PGSTAT_MIN_INTERVAL)."""
BATCH_METRIC = "paycore_db_batch_rows"
"""A histogram (``_sum``, ``_count``) of rows per committed batch; read only if served."""


@dataclass(frozen=True, slots=True)
class PostgresReading:
    """PostgreSQL's counters at one moment."""

    commits: int
    statements: int | None
    """None without pg_stat_statements loaded."""


class PostgresCounts:
    """PostgreSQL's counters and its processes, for the database of ``dsn``."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.postmaster_pid, self.statements_available = asyncio.run(self._inspect())

    async def _inspect(self) -> tuple[int | None, bool]:
        connection = await asyncpg.connect(self._dsn)
        try:
            preload = await connection.fetchval("SHOW shared_preload_libraries")
            available = "pg_stat_statements" in preload
            if available:
                await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            data = await connection.fetchval("SHOW data_directory")
        finally:
            await connection.close()
        try:
            pid: int | None = int((Path(data) / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None  # another machine, or not ours to read: no CPU figure
        return pid, available

    def read(self) -> PostgresReading:
        """Commits and statements so far."""
        return asyncio.run(self._read())

    async def _read(self) -> PostgresReading:
        connection = await asyncpg.connect(self._dsn)
        try:
            commits = await connection.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
            statements = None
            if self.statements_available:
                statements = await connection.fetchval(
                    "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements s"
                    " JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()"
                )
        finally:
            await connection.close()
        return PostgresReading(int(commits), None if statements is None else int(statements))


class RedisCounts:
    """Redis' own counters, read over one connection."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self.pid = int(self._client.info("server")["process_id"])

    def read(self) -> tuple[int, int]:
        """(commands run, client socket reads) so far."""
        commands = sum(int(s["calls"]) for s in self._client.info("commandstats").values())
        return commands, int(self._client.info("stats")["total_reads_processed"])

    def close(self) -> None:
        self._client.close()


def batch_rows(metrics_url: str | None) -> tuple[float, float] | None:
    """(rows, batches) so far from ``BATCH_METRIC`` at ``metrics_url``; None if not served."""
    if metrics_url is None:
        return None
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    found = {}
    for suffix in ("sum", "count"):
        pattern = rf"^{BATCH_METRIC}_{suffix}(?:{{[^}}]*}})? ([0-9.eE+]+)$"
        values = [float(v) for v in re.findall(pattern, text, re.MULTILINE)]
        if not values:
            return None
        found[suffix] = sum(values)
    return found["sum"], found["count"]


@dataclass(frozen=True, slots=True)
class Costs:
    """What one paycore window cost outside paycore's processes."""

    calls: int
    """Calls answered OK over the whole run, warm-up included (the counters' divisor)."""
    postgres_cpu_s: float | None
    """CPU of PostgreSQL's processes over the window (None: not on this machine)."""
    redis_cpu_s: float
    commits: int
    statements: int | None
    redis_commands: int
    redis_reads: int
    batches: tuple[float, float] | None = None
    """(rows, batches) committed by a group-commit writer, if paycore exports them."""


@dataclass(slots=True)
class Probes:
    """The counters outside paycore, and what paycore's calls refer to."""

    postgres: PostgresCounts
    redis: RedisCounts
    contexts: list[Context] = field(default_factory=list)


def measure_costs(
    process: subprocess.Popen[bytes], drive: Callable[[], LoadResult],
    probes: Probes | None, metrics: Sequence[str],
) -> tuple[Measured, Costs | None]:  # fmt: skip
    """``drive`` measured on ``process``; with ``probes``, what it cost PostgreSQL and Redis."""
    if probes is None:
        return watched(process, drive), None
    postgres_before, redis_before = probes.postgres.read(), probes.redis.read()
    batches_before = _batches(metrics)
    pg_root = probes.postgres.postmaster_pid
    pg_samples = CpuSamples(tree_of=pg_root) if pg_root else CpuSamples()
    with pg_samples as pg_cpu, CpuSamples([probes.redis.pid]) as redis_cpu:
        measured = watched(process, drive)
    time.sleep(STATS_DELAY_S)  # PostgreSQL publishes its counters up to a second late
    postgres_after, redis_after = probes.postgres.read(), probes.redis.read()
    batches_after = _batches(metrics)
    start, end = measured.load.window_start, measured.load.window_end
    statements = None
    if postgres_after.statements is not None and postgres_before.statements is not None:
        statements = postgres_after.statements - postgres_before.statements
    costs = Costs(
        calls=measured.load.total_ok,
        postgres_cpu_s=pg_cpu.at(end) - pg_cpu.at(start) if pg_root else None,
        redis_cpu_s=redis_cpu.at(end) - redis_cpu.at(start),
        commits=postgres_after.commits - postgres_before.commits,
        statements=statements,
        redis_commands=redis_after[0] - redis_before[0],
        redis_reads=redis_after[1] - redis_before[1],
        batches=(
            (batches_after[0] - batches_before[0], batches_after[1] - batches_before[1])
            if batches_after and batches_before
            else None
        ),
    )
    return measured, costs


def _batches(metrics: Sequence[str]) -> tuple[float, float] | None:
    readings = [batch_rows(url) for url in metrics]
    if not readings or any(r is None for r in readings):
        return None
    return sum(r[0] for r in readings if r), sum(r[1] for r in readings if r)
