"""paycore against a baseline checkout of itself: CreatePayment, alternating in one run.

Issue 18 asks for before/after figures of each throughput step. One run starts
PostgreSQL and Redis once (``PAYCORE_BENCH_*`` or embedded ones, as the other
benchmarks), then, round after round, serves ``paycore run --workers 1`` from
the baseline checkout and from this one in turn (the order flips every round,
so a drift of the shared machine does not favour either), each on a fresh
server with a database of its own (migrated by that checkout's own ``paycore
migrate``, so a baseline from before a schema change runs on its own schema) and
merchants of its own, and drives it with ``bench.load``'s closed loop
(``--concurrency`` callers, one merchant each, in ``--processes`` generator
processes).

Per window it reads:

- CreatePayment req/s (calls answered OK in the window) and p50/p99;
- the server's CPU per create (its process tree, from /proc, over the window);
- Redis' CPU per create (the Redis server process, from /proc, over the window):
  meaningful with the embedded Redis, which serves nobody else;
- Redis commands per create (INFO commandstats, the commands scripts run inside
  Redis included) and Redis socket reads per create (INFO ``total_reads_processed``:
  one per round trip that reached Redis, so batching shows as < 1), both over the
  whole window including its warm-up, per payment created then;
- PostgreSQL write transactions (commits) per create over the same span: the
  transaction ids PostgreSQL assigned (``pg_current_snapshot()``'s xmax moves by one
  per transaction that writes; read-only ones take none), background jobs included:
  exact with the embedded PostgreSQL (``PAYCORE_BENCH_POSTGRES_DSN`` unset), which
  serves nobody else; unlike ``pg_stat_database`` it does not lag.

``--section`` names the RESULTS.md table the row goes to: ``redis`` (telemetry and
Redis batching, the first steps) or ``group-commit`` (the write path: that table
has the commits column).

The baseline is a checkout with its own ``.venv`` (``make .venv`` in it), e.g.
``git worktree add /tmp/base <commit> && make -C /tmp/base .venv``::

    PYTHONPATH=clients/python:. python -m bench.versus --baseline /tmp/base --seconds 5 --rounds 3

The row in RESULTS.md has the medians of each side and their ratio (this / baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.counters import RedisCounts
from bench.cpu import CpuSamples
from bench.load import LoadResult, issue_bench_keys, latency_percentiles_ms, run_load
from bench.record import append_result, git_revision
from bench.servers import REPOSITORY, free_port, in_processes, paycore_server, watched
from bench.telemetry_overhead import bench_databases
from core.storage.migrate import migrate

MODULE = "bench.versus"
HEADINGS = {
    "redis": "## Throughput issue 18: telemetry and Redis batching",
    "group-commit": "## Throughput issue 18: group commit",
}


@dataclass(frozen=True, slots=True)
class Window:
    """One server (a checkout) under the closed loop for one window."""

    side: str
    throughput: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_ms: float
    """Server CPU per create answered in the window, in ms."""
    redis_cpu_us: float
    """Redis server CPU per create answered in the window, in microseconds."""
    redis_commands: float
    """Commands Redis ran per payment created (warm-up included)."""
    redis_reads: float
    """Client socket reads by Redis per payment created: round trips that reached it."""
    pg_commits: float
    """PostgreSQL commits per payment created (warm-up and background jobs included)."""

    def line(self) -> str:
        return (
            f"{self.side:>8}: {self.throughput:6.0f} req/s, p50/p99 {self.p50_ms:.1f}/"
            f"{self.p99_ms:.1f} ms, errors {self.errors}; server CPU {self.server_cpu_ms:.2f} "
            f"ms/create; Redis CPU {self.redis_cpu_us:.0f} us, {self.redis_commands:.1f} "
            f"commands, {self.redis_reads:.2f} reads per create; PostgreSQL "
            f"{self.pg_commits:.2f} commits per create"
        )


async def _payments(dsn: str, prefix: str) -> tuple[int, int]:
    """(payments of the bench's merchants, transaction ids assigned) so far."""
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM payments WHERE merchant_id LIKE $1", f"{prefix}%"
        )
        commits: int = await connection.fetchval(
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
        )
        return count, commits
    finally:
        await connection.close()


def _closed_loop(target: str, keys: Sequence[str], options: argparse.Namespace) -> LoadResult:
    shares = [list(keys[i :: options.processes]) for i in range(options.processes)]
    return in_processes(
        [
            partial(run_load, target, seconds=options.seconds, warmup_s=options.warmup,
                    api_keys=share)
            for share in shares
        ]
    )  # fmt: skip


def measure_side(
    side: str,
    repository: Path,
    databases: tuple[str, str],
    merchants: tuple[str, Sequence[str]],
    options: argparse.Namespace,
) -> Window:
    """Serve ``repository``'s paycore and drive it for one window."""
    dsn, redis_url = databases
    prefix, keys = merchants
    port = free_port()
    counts = RedisCounts(redis_url)
    try:
        with paycore_server(dsn, redis_url, port, 1, repository) as server:
            created, commits = asyncio.run(_payments(dsn, prefix))
            commands, reads = counts.read()
            with CpuSamples([counts.pid]) as redis_cpu:
                measured = watched(
                    server, partial(_closed_loop, f"127.0.0.1:{port}", keys, options)
                )
            created_after, commits_after = asyncio.run(_payments(dsn, prefix))
            created = created_after - created
            commands_after, reads_after = counts.read()
    finally:
        counts.close()
    load = measured.load
    redis_cpu_s = redis_cpu.at(load.window_end) - redis_cpu.at(load.window_start)
    p50, _, p99 = latency_percentiles_ms(load.latencies_s)
    answered = max(load.ok, 1)
    return Window(
        side,
        load.throughput,
        p50,
        p99,
        sum(load.errors.values()),
        measured.use.cpu_s / answered * 1000,
        redis_cpu_s / answered * 1e6,
        (commands_after - commands) / max(created, 1),
        (reads_after - reads) / max(created, 1),
        (commits_after - commits) / max(created, 1),
    )


def _median(windows: Sequence[Window], field: str) -> float:
    return statistics.median(float(getattr(w, field)) for w in windows)


def summarise(
    rounds: Sequence[tuple[Window, Window]], section: str = "redis"
) -> tuple[list[str], list[str]]:
    """Printed lines and RESULTS.md cells (of the table of ``section``) per round."""
    base = [b for b, _ in rounds]
    this = [t for _, t in rounds]
    ratios = [t.throughput / b.throughput if b.throughput else 0.0 for b, t in rounds]
    cpu_ratios = [t.server_cpu_ms / b.server_cpu_ms if b.server_cpu_ms else 0.0 for b, t in rounds]
    fields = (
        "throughput",
        "server_cpu_ms",
        "redis_cpu_us",
        "redis_commands",
        "redis_reads",
        "pg_commits",
    )
    medians = {f: (_median(base, f), _median(this, f)) for f in fields}
    lines = [
        f"median {name}: baseline {b:.2f}, this {t:.2f} (this/baseline {t / b:.3f})"
        for name, (b, t) in medians.items()
        if b
    ]
    lines.append("per-round req/s ratios: " + ", ".join(f"{r:.3f}" for r in ratios))
    lines.append("per-round CPU/create ratios: " + ", ".join(f"{r:.3f}" for r in cpu_ratios))

    def pair(field: str, digits: int) -> str:
        b, t = medians[field]
        return f"{b:.{digits}f} -> {t:.{digits}f}"

    cells = [
        pair("throughput", 0),
        f"{statistics.median(ratios):.3f}",
        pair("server_cpu_ms", 2),
        pair("redis_cpu_us", 0),
        pair("redis_commands", 1),
        pair("redis_reads", 2),
        *([pair("pg_commits", 2)] if section == "group-commit" else []),
        "rounds req/s (baseline/this): "
        + ", ".join(f"{b.throughput:.0f}/{t.throughput:.0f}" for b, t in rounds)
        + "; server CPU ms/create: "
        + ", ".join(f"{b.server_cpu_ms:.2f}/{t.server_cpu_ms:.2f}" for b, t in rounds)
        + f" (median of per-round ratios {statistics.median(cpu_ratios):.3f})"
        + "; p99 ms: "
        + ", ".join(f"{b.p99_ms:.0f}/{t.p99_ms:.0f}" for b, t in rounds)
        + f"; errors {sum(b.errors for b in base)}/{sum(t.errors for t in this)}",
    ]
    return lines, cells


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """The command-line options."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--baseline", type=Path, required=True, help="checkout with a .venv")
    parser.add_argument("--seconds", type=float, default=5.0, help="each measured window")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted load before each")
    parser.add_argument("--rounds", type=int, default=3, help="baseline and this, per round")
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop callers")
    parser.add_argument("--processes", type=int, default=1, help="generator processes")
    parser.add_argument("--no-record", action="store_true", help="print only")
    parser.add_argument(
        "--section", choices=sorted(HEADINGS), default="redis", help="RESULTS.md table"
    )
    options = parser.parse_args(argv)
    if not (options.baseline / ".venv" / "bin" / "python").exists():
        parser.error(f"--baseline {options.baseline}: no .venv (run make .venv there)")
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Alternate baseline and this checkout, print every window, record the medians."""
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_options(argv)
    revision = git_revision()
    baseline = subprocess.run(
        ["git", "-C", str(options.baseline), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    rounds: list[tuple[Window, Window]] = []
    with bench_databases() as (dsn, redis_url):
        asyncio.run(migrate(dsn))
        # The baseline gets a database of its own, migrated by its own code: a
        # baseline from before a schema change cannot run on this checkout's schema.
        base_dsn = asyncio.run(_own_database(dsn, "paycore_versus_baseline"))
        _migrate_with(options.baseline, base_dsn)
        run = uuid.uuid4().hex[:8]
        # Separate merchants too, so rate limits and velocity in the shared Redis
        # never carry over from one side to the other.
        sides = {
            side: (repository, (side_dsn, redis_url), (prefix, keys))
            for side, repository, side_dsn in (
                ("baseline", options.baseline, base_dsn),
                ("this", REPOSITORY, dsn),
            )
            for prefix in [f"versus_{run}_{side}"]
            for keys in [asyncio.run(_issue_keys(side_dsn, prefix, options.concurrency))]
        }
        order = ["baseline", "this"]
        for index in range(options.rounds):
            measured = {}
            for side in order if index % 2 == 0 else order[::-1]:
                repository, databases, merchants = sides[side]
                window = measure_side(side, repository, databases, merchants, options)
                print(f"round {index + 1} {window.line()}", flush=True)
                measured[side] = window
            rounds.append((measured["baseline"], measured["this"]))
    lines, cells = summarise(rounds, options.section)
    print("\n".join(lines))
    if not options.no_record:
        append_result(
            HEADINGS[options.section], MODULE, argv, [f"`{baseline}`", *cells], revision=revision
        )


async def _own_database(dsn: str, name: str) -> str:
    """A new, empty database ``name`` on ``dsn``'s server (dropped first if left over)."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


def _migrate_with(repository: Path, dsn: str) -> None:
    """Apply ``repository``'s own migrations to ``dsn`` with its own ``paycore migrate``."""
    subprocess.run(
        [str(repository / ".venv" / "bin" / "paycore"), "migrate"],
        cwd=repository,
        env={**os.environ, "PAYCORE_POSTGRES_DSN": dsn},
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def _issue_keys(dsn: str, prefix: str, count: int) -> list[str]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        return await issue_bench_keys(pool, prefix, count)
    finally:
        await pool.close()


if __name__ == "__main__":
    main()
