"""A CPU profile of one paycore worker serving one scenario of bench/scenarios.py.

The server runs in this process under cProfile with ``time.process_time`` as its
clock (CPU, not wall time: waiting on PostgreSQL or Redis costs nothing here),
on uvloop like ``paycore run --workers 1``; the load is ``bench.load``'s closed
loop in generator processes of their own. Settings come from the environment as
for ``paycore run`` (PAYCORE_POSTGRES_DSN, PAYCORE_REDIS_URL: the machine's
servers, or the embedded ones when unset). The profile's totals include
cProfile's own overhead (it roughly doubles Python-heavy code): read proportions.

    PYTHONPATH=clients/python:. python -m bench.profile_rpc --scenario get --seconds 8 \
        --out /tmp/get.prof
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import signal
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import asyncpg

from bench.load import LoadResult, issue_bench_keys, run_load
from bench.scenarios import SCENARIOS, Context, prepare
from bench.servers import free_port, in_processes
from core.config import load_settings
from core.runtime.embedded import start_embedded
from core.runtime.loop import run
from core.storage.migrate import migrate


async def _setup(
    dsn: str, target: str, count: int, scenario: str
) -> tuple[list[str], list[Context]]:

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        keys = await issue_bench_keys(pool, f"profile_{uuid.uuid4().hex[:8]}", count)
    finally:
        await pool.close()
    return keys, (await prepare(target, keys) if scenario != "create" else [])


def _drive(
    options: argparse.Namespace, target: str, keys: Sequence[str], contexts: Sequence[Context]
) -> LoadResult:
    shares = [list(range(len(keys)))[i :: options.processes] for i in range(options.processes)]
    jobs = [
        partial(
            run_load, target, seconds=options.seconds, warmup_s=0.0,
            api_keys=[keys[i] for i in share], scenario=options.scenario,
            contexts=[contexts[i] for i in share] if contexts else (),
        )
        for share in shares
    ]  # fmt: skip
    return in_processes(jobs)


def main(argv: Sequence[str] | None = None) -> None:
    """Serve, profile while the load runs, print the top functions."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile_rpc")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="get")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, help="where to keep the pstats file")
    options = parser.parse_args(argv)
    from core.runtime.serve import serve  # noqa: PLC0415

    port = free_port()
    settings = load_settings().replace(port=port, http_port=0, workers=1, log_level="WARNING")
    services = start_embedded(settings)
    settings = settings.replace(postgres_dsn=services.postgres_dsn, redis_url=services.redis_url)
    asyncio.run(migrate(settings.postgres_dsn or ""))
    profile = cProfile.Profile(time.process_time)
    outcome: list[LoadResult] = []

    def load_then_stop(_: int) -> None:
        # cProfile profiles the thread that enables it: the event loop's, here.
        loop = asyncio.get_running_loop()
        target = f"127.0.0.1:{port}"

        def body() -> None:
            try:
                dsn = settings.postgres_dsn or ""
                keys, contexts = asyncio.run(
                    _setup(dsn, target, options.concurrency, options.scenario)
                )
                loop.call_soon_threadsafe(profile.enable)  # the setup is not profiled
                outcome.append(_drive(options, target, keys, contexts))
                loop.call_soon_threadsafe(profile.disable)
            finally:
                os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=body, daemon=True).start()

    try:
        run(serve(settings, ready=load_then_stop), use_uvloop=True)
    finally:
        services.stop()
    load = outcome[0] if outcome else None
    if load is not None:
        print(f"{options.scenario}: {load.throughput:.0f} req/s, {load.total_ok} calls, "
              f"errors {load.errors}")  # fmt: skip
    stats = pstats.Stats(profile, stream=sys.stdout)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    calls = load.total_ok if load else 0
    if calls:
        print(f"profiled CPU {total:.2f} s, {total / calls * 1e6:.0f} us per call (with cProfile)")
    if options.out:
        stats.dump_stats(options.out)
    stats.sort_stats("tottime").print_stats(options.top)
    stats.sort_stats("cumulative").print_stats(options.top)


if __name__ == "__main__":
    main()
