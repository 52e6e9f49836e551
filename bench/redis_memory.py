"""Redis memory per payment held by risk velocity: the figure docs/SCALING.md sizes Redis with.

The velocity sets (core/redis/velocity.py) keep every payment of the last 24 h once per
entity it names, plus each customer's history. This writes the labeled synthetic
stream of riskengine/synthetic.py (customers with several payments each, shared IPs and
devices, attacks) through the real velocity script with Redis' own clock, so every
payment is inside the 24 h window, the steady state of a day holding that many
payments, and reports ``used_memory`` growth per payment (``INFO memory``) on a fresh
embedded Redis (or ``PAYCORE_BENCH_REDIS_URL``, flushed of nothing: the growth is
measured, not the total).

    PYTHONPATH=clients/python:. python -m bench.redis_memory --customers 3000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from bench.record import append_result
from core.config import Settings
from core.redis.velocity import RedisVelocity
from core.runtime.embedded import start_embedded
from riskengine.synthetic import generate

MODULE = "bench.redis_memory"
HEADING = "## Redis memory per payment (risk velocity)"


@dataclass(frozen=True, slots=True)
class MemoryUse:
    """What writing the stream added to Redis."""

    payments: int
    keys: int
    bytes_added: int

    @property
    def bytes_per_payment(self) -> float:
        """Growth of ``used_memory`` per payment written."""
        return self.bytes_added / self.payments if self.payments else 0.0


async def measure(redis_url: str, customers: int, seed: int = 7) -> MemoryUse:
    """Write one synthetic stream of ``customers`` through velocity; the memory it added."""
    client = aioredis.from_url(redis_url)
    try:
        velocity = RedisVelocity(client, retry_interval_s=1.0)
        await velocity.prepare()
        stream = generate(f"bench_mem_{uuid.uuid4().hex[:10]}", customers=customers, seed=seed)
        keys_before = await client.dbsize()
        before = (await client.info("memory"))["used_memory"]
        for i, event in enumerate(stream):
            # Redis' clock, not the stream's: every payment is inside the 24 h window.
            await velocity.read_and_count(event.transaction, f"pay_{i:026d}", write=True)
        after = (await client.info("memory"))["used_memory"]
        return MemoryUse(len(stream), await client.dbsize() - keys_before, after - before)
    finally:
        await client.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print and append a row to bench/RESULTS.md."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--no-record", action="store_true", help="print only")
    options = parser.parse_args(argv)
    redis_url = os.environ.get("PAYCORE_BENCH_REDIS_URL")
    data = Path(tempfile.mkdtemp(prefix="paycore-bench-memory-"))
    embedded = None
    try:
        if not redis_url:
            embedded = start_embedded(Settings(data_dir=data, postgres_dsn="postgresql://unused"))
            redis_url = embedded.redis_url
        use = asyncio.run(measure(redis_url, options.customers))
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(data, ignore_errors=True)
    print(
        f"payments {use.payments}, keys {use.keys}, used_memory +{use.bytes_added} bytes: "
        f"{use.bytes_per_payment:.0f} bytes per payment"
    )
    if not options.no_record:
        append_result(
            HEADING,
            MODULE,
            argv,
            [
                str(use.payments),
                str(use.keys),
                f"{use.bytes_per_payment:.0f}",
                f"{use.bytes_per_payment * 86_400 * 1_000 / 1e9:.0f} GB",
                f"synthetic stream, {options.customers} customers, all inside one 24 h window",
            ],
        )


if __name__ == "__main__":
    main()
