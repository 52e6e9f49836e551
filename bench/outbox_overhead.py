"""Outbox overhead: payment writes with the event outbox on vs off, in one run (issue 7).

What it measures is the storage path a payment takes, without gRPC, Redis or a
channel: each write is one transaction that inserts a payment, then one that
locks it and saves it CAPTURED (the two commits of CreatePayment). With the
outbox **on** (``PaymentOutbox``, as ``open_services`` wires it) those
transactions also number, append and fan out (one subscribed endpoint per
merchant) three events; **off** they do not. Rounds alternate
off/on against one PostgreSQL.

``--merchants`` spreads the concurrent writers over that many merchants: with
one merchant every event-producing transaction waits for the merchant's
sequence lock (the price of gap-free cursors), with one merchant per writer
(the default) they never meet.

    PYTHONPATH=clients/python:. python -m bench.outbox_overhead --seconds 5 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from bench.record import append_row, command_line, git_revision, markdown_row
from bench.telemetry_overhead import bench_databases
from core.domain import ids
from core.domain.money import Money
from core.domain.payment import CaptureMethod, ConfirmationMethod, Payment, PaymentState
from core.events.snapshot import payment_snapshot
from core.runtime.loop import run
from core.service.payment_changes import payment_change
from core.storage.events import PaymentOutbox
from core.storage.migrate import migrate
from core.storage.pool import create_pool
from core.storage.unit_of_work import PostgresPaymentRepository

MODULE = "bench.outbox_overhead"
RESULTS_HEADING = "## Outbox overhead"
TABLE_HEADER = (
    "| Date | Commit | Command | Off writes/s | On writes/s | On/Off | p99 off | p99 on | Notes |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """How long, how often and how hard to measure."""

    seconds: float = 5.0
    rounds: int = 3
    concurrency: int = 16
    merchants: int = 0
    """Merchants the writers share; 0: one per writer."""


@dataclass(frozen=True, slots=True)
class Window:
    """One configuration's measured window: completed payment writes and their latencies."""

    configuration: str
    writes: int
    seconds: float
    latencies_ms: tuple[float, ...]

    @property
    def throughput(self) -> float:
        """Payment writes (two transactions each) per second."""
        return self.writes / self.seconds

    @property
    def p99_ms(self) -> float:
        """99th percentile latency of one payment write."""
        return statistics.quantiles(self.latencies_ms, n=100)[98]


def _payment(merchant_id: str) -> Payment:
    now = datetime.now(UTC)
    return Payment(
        id=ids.new_id(ids.PAYMENT),
        merchant_id=merchant_id,
        state=PaymentState.PENDING,
        amount=Money(1999, "EUR"),
        amount_captured=Money(0, "EUR"),
        amount_refunded=Money(0, "EUR"),
        capture_method=CaptureMethod.AUTOMATIC,
        confirmation_method=ConfirmationMethod.AUTOMATIC,
        card=None,
        channel="sandbox_card",
        operation_in_flight="authorize",
        created_at=now,
        updated_at=now,
    )


async def _write(repository: PostgresPaymentRepository, merchant_id: str) -> None:
    payment = _payment(merchant_id)
    async with repository.transaction() as tx:
        await tx.payments.save(payment_change(None, payment))
    async with repository.transaction() as tx:
        locked = await tx.payments.lock(merchant_id, payment.id)
        assert locked is not None
        captured = dataclasses.replace(
            locked,
            state=PaymentState.CAPTURED,
            amount_captured=locked.amount,
            operation_in_flight="",
            updated_at=datetime.now(UTC),
        )
        await tx.payments.save(payment_change(locked, captured))


async def _subscribe(pool: asyncpg.Pool, merchants: Sequence[str]) -> None:
    # Fictitious endpoints that are never posted to: no secret (real ones are
    # stored sealed by PostgresWebhookEndpoints.save_endpoint).
    now = datetime.now(UTC)
    await pool.executemany(
        """
        INSERT INTO webhook_endpoints (merchant_id, id, url, secret, create_time, update_time)
        VALUES ($1, $2, 'https://bench.invalid/hooks', '', $3, $3)
        """,
        [(m, ids.new_id("whe"), now) for m in merchants],
    )


async def _unsubscribe(pool: asyncpg.Pool, merchants: Sequence[str]) -> None:
    # The endpoints are fictitious: leave nothing for a relay to try to POST.
    await pool.execute(
        """
        UPDATE webhook_deliveries SET state = 'dead', last_error = 'benchmark'
        WHERE merchant_id = ANY($1) AND state = 'pending'
        """,
        list(merchants),
    )
    await pool.execute(
        "UPDATE webhook_endpoints SET deleted = true, enabled = false WHERE merchant_id = ANY($1)",
        list(merchants),
    )


async def _window(
    repository: PostgresPaymentRepository,
    merchants: Sequence[str],
    options: BenchOptions,
    name: str,
) -> Window:
    latencies: list[float] = []
    deadline = time.monotonic() + options.seconds

    async def writer(index: int) -> None:
        merchant_id = merchants[index % len(merchants)]
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await _write(repository, merchant_id)
            latencies.append((time.perf_counter() - started) * 1000)

    started = time.monotonic()
    await asyncio.gather(*(writer(i) for i in range(options.concurrency)))
    return Window(name, len(latencies), time.monotonic() - started, tuple(latencies))


async def measure(options: BenchOptions, postgres_dsn: str) -> list[Window]:
    """Alternate off/on windows for ``options.rounds`` rounds; returns every window."""
    pool = await create_pool(postgres_dsn, 2, options.concurrency + 2, acquire_timeout_s=60.0)
    try:
        count = options.merchants or options.concurrency
        merchants = [f"bench_{uuid.uuid4().hex[:12]}" for _ in range(count)]
        await _subscribe(pool, merchants)
        repositories = {
            "off": PostgresPaymentRepository(pool),
            "on": PostgresPaymentRepository(pool, PaymentOutbox(payment_snapshot)),
        }
        await _window(repositories["on"], merchants, dataclasses.replace(options, seconds=0.5), "")
        windows = []
        try:
            for _ in range(options.rounds):
                for name in ("off", "on"):
                    windows.append(await _window(repositories[name], merchants, options, name))
        finally:
            await _unsubscribe(pool, merchants)
        return windows
    finally:
        await pool.close()


def _median(windows: Sequence[Window], name: str) -> float:
    return statistics.median(w.throughput for w in windows if w.configuration == name)


def _p99(windows: Sequence[Window], name: str) -> float:
    latencies = [ms for w in windows if w.configuration == name for ms in w.latencies_ms]
    return statistics.quantiles(latencies, n=100)[98]


def result_cells(
    windows: Sequence[Window], options: BenchOptions, revision: str, command: str
) -> list[str]:
    """The RESULTS.md cells of a run."""
    off, on = _median(windows, "off"), _median(windows, "on")
    per_round = ", ".join(f"{w.configuration} {w.throughput:.0f}" for w in windows)
    merchants = options.merchants or options.concurrency
    notes = (
        f"{options.concurrency} writers over {merchants} merchant(s), 1 endpoint each; "
        f"a write = insert + save CAPTURED (3 events with the outbox); windows: {per_round}"
    )
    return [
        datetime.now(UTC).date().isoformat(),
        f"`{revision}`",
        f"`{command}`",
        f"{off:.1f}",
        f"{on:.1f}",
        f"{on / off:.3f}",
        f"{_p99(windows, 'off'):.1f} ms",
        f"{_p99(windows, 'on'):.1f} ms",
        notes,
    ]


async def _migrate_and_measure(options: BenchOptions, postgres_dsn: str) -> list[Window]:
    await migrate(postgres_dsn)
    return await measure(options, postgres_dsn)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure, print the RESULTS.md row, and add it to bench/RESULTS.md."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    defaults = BenchOptions()
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument("--rounds", type=int, default=defaults.rounds)
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument("--merchants", type=int, default=defaults.merchants)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rounds < 1 or args.concurrency < 1 or args.merchants < 0:
        raise SystemExit("--seconds > 0, --rounds and --concurrency >= 1, --merchants >= 0")
    options = BenchOptions(args.seconds, args.rounds, args.concurrency, args.merchants)
    logging.basicConfig(level=logging.WARNING)
    with bench_databases() as (postgres_dsn, _):
        windows = run(_migrate_and_measure(options, postgres_dsn), use_uvloop=True)
    row = markdown_row(result_cells(windows, options, git_revision(), command_line(MODULE, argv)))
    print(TABLE_HEADER)
    print(row)
    append_row(RESULTS_HEADING, row)


if __name__ == "__main__":
    main()
