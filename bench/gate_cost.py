"""Client CPU of the request gate's Redis round trip, per admitted payment (issue 18).

The gate's script with a new payment's velocity riding along, as a CreatePayment
sends it, from ``--concurrency`` tasks at once (one merchant each) on one event
loop: the process CPU time per admission (time.process_time: redis-py packing,
parsing, pooling and the asyncio plumbing, not Redis' own work) and the
admissions per second. With concurrent callers the auto-pipeline shares round
trips; alone, each call is one.

Runs against ``PAYCORE_BENCH_REDIS_URL`` (default the local Redis), from any
checkout: for a before/after, run this file with the other checkout's
interpreter and PYTHONPATH (it only needs the gate and velocity APIs both have)::

    PYTHONPATH=clients/python:. python -m bench.gate_cost --concurrency 1 4 64
    cd /tmp/base && PYTHONPATH=clients/python:. .venv/bin/python <this checkout>/bench/gate_cost.py

Prints only: CPU per call depends on the machine; compare within one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Sequence

from core.app import connect_redis
from core.config import RateLimitSettings, Settings
from core.domain.money import Money
from core.domain.payment import CardSummary
from core.gate import GateClaim, RpcClass
from core.redis.request_gate import RedisRequestGate
from core.redis.velocity import RedisVelocity
from core.runtime.loop import run
from riskengine.features import Transaction

UNLIMITED = RateLimitSettings(
    writes_per_s=1e9, writes_burst=10**9, reads_per_s=1e9, reads_burst=10**9
)
CARD = CardSummary("visa", "424242", "4242", 12, 2030, "fp_gate_cost")


async def measure(redis_url: str, concurrency: int, calls: int, rounds: int) -> list[float]:
    """CPU microseconds per admission, one figure per round (after one warm-up round)."""
    client = connect_redis(Settings(redis_url=redis_url))
    gate = RedisRequestGate(client, UNLIMITED, marker_ttl_s=60, retry_interval_s=1)
    shared: dict[str, object] = {"availability": gate.availability}
    if hasattr(gate, "pipeline"):  # checkouts with the auto-pipeline share it with velocity
        shared["pipeline"] = gate.pipeline
    velocity = RedisVelocity(client, retry_interval_s=1, **shared)  # type: ignore[arg-type]
    await gate.prepare(velocity.lua)
    merchants = [f"gate_cost_{uuid.uuid4().hex[:8]}" for _ in range(concurrency)]

    async def caller(merchant_id: str, count: int) -> None:
        for _ in range(count):
            rider = velocity.rider(Transaction(merchant_id, Money(1000, "USD"), CARD), "p")
            claim = GateClaim("create_payment", uuid.uuid4().hex, b"fingerprint")
            await gate.admit(merchant_id, RpcClass.WRITES, claim, rider)

    per_call = []
    try:
        for index in range(rounds + 1):
            started = time.process_time()
            await asyncio.gather(*(caller(m, calls) for m in merchants))
            if index:  # the first round warms the pool, the scripts and the caches
                per_call.append((time.process_time() - started) / (calls * concurrency) * 1e6)
    finally:
        await client.aclose()
    return per_call


def main(argv: Sequence[str] | None = None) -> None:
    """Print the median CPU per admission for each concurrency."""
    parser = argparse.ArgumentParser(prog="python -m bench.gate_cost")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 64])
    parser.add_argument("--calls", type=int, default=50, help="per caller and round")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    redis_url = os.environ.get("PAYCORE_BENCH_REDIS_URL") or "redis://127.0.0.1:6379/0"
    for concurrency in options.concurrency:
        rounds = run(
            measure(redis_url, concurrency, options.calls, options.rounds), use_uvloop=True
        )
        print(
            f"concurrency {concurrency:3d}: {statistics.median(rounds):6.1f} us CPU per admission"
            f" (rounds {', '.join(f'{r:.0f}' for r in rounds)})",
            flush=True,
        )


if __name__ == "__main__":
    main()
