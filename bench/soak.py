"""Soak: payments at a fixed rate for N minutes against a real ``paycore run``; RSS growth.

A private PostgreSQL, Redis and ``paycore run`` (tests/faults/stack.py, the fault
suite's stack) serve an open-loop stream of CreatePayment (sandbox Visa, captured at
once; every tenth is refunded 1.00 right after) at ``--rate`` per second, round robin
over ``--merchants`` merchants, through the channel simulator process (``paycore
simulator``; ``--in-process-channel`` uses the in-process acquirer, whose memory of every
charge then counts in paycore's RSS). paycore's
resident memory is sampled every ``--sample-s``; the growth is measured from the end
of the warm-up (pools filled, caches warm) to the end of the run, and appended to
bench/RESULTS.md with the answers by code and the latency.

    PYTHONPATH=clients/python:. python -m bench.soak --rate 60 --minutes 10

Open loop: a call is started every 1/rate seconds whatever the previous ones do, at
most ``--max-in-flight`` at once (beyond that a tick is counted as skipped), so a
slow server shows as latency and skips, not as a lower rate that hides it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from google.type import money_pb2
from grpc_status import rpc_status

from bench.load import latency_percentiles_ms
from bench.record import append_result
from bench.scenarios import create_payment_request
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc
from tests.faults.stack import FaultStack
from tests.support.auth import Metadata, dsn_merchant_metadata

HEADING = "## Soak: memory under steady load"


@dataclass
class Soak:
    """What one soak saw."""

    codes: Counter[str] = field(default_factory=Counter)
    unexplained: list[str] = field(default_factory=list)
    """Each UNKNOWN or INTERNAL answer: its RPC, its paycore ErrorInfo reason (absent: gRPC
    itself made the status, not paycore's error mapping) and its message."""
    latencies_s: list[float] = field(default_factory=list)
    skipped: int = 0
    samples: list[tuple[float, float]] = field(default_factory=list)
    """(seconds since the start, paycore RSS in MB)."""

    def rss_at(self, after_s: float) -> float:
        """The first sample taken at or after ``after_s`` (the last one if none)."""
        return next((mb for at, mb in self.samples if at >= after_s), self.samples[-1][1])


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def _pay(
    stub: payment_service_pb2_grpc.PaymentServiceAsyncStub,
    metadata: Metadata,
    refund: bool,
    soak: Soak,
) -> None:
    started = time.perf_counter()
    rpc = "CreatePayment"
    try:
        created = await stub.CreatePayment(create_payment_request(), metadata=metadata, timeout=30)
        if refund:
            rpc = "RefundPayment"
            await stub.RefundPayment(
                svc.RefundPaymentRequest(
                    request_id=f"soak-refund-{created.payment.id}",
                    payment_id=created.payment.id,
                    amount=money_pb2.Money(currency_code="USD", units=1),
                ),
                metadata=metadata,
                timeout=30,
            )
    except grpc.aio.AioRpcError as error:
        soak.codes[error.code().name] += 1
        if error.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
            soak.unexplained.append(f"{rpc} {error.code().name} {_origin(error)}")
        return
    soak.codes["OK"] += 1
    soak.latencies_s.append(time.perf_counter() - started)


def _origin(error: grpc.aio.AioRpcError) -> str:
    """Who made an error status: paycore's mapping (its ErrorInfo reason) or gRPC itself."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]  # stubs predate grpc.aio
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return f"reason={info.reason} ({error.details()})"
    return f"no paycore ErrorInfo: made by gRPC, not by paycore ({error.details()})"


async def _soak(stack: FaultStack, options: argparse.Namespace) -> Soak:
    assert stack.paycore is not None
    pid = stack.paycore.pid
    merchants = [
        await dsn_merchant_metadata(stack.postgres_dsn, f"m_soak_{index}")
        for index in range(options.merchants)
    ]
    soak = Soak()
    loop = asyncio.get_running_loop()
    begin = loop.time()
    end = begin + options.minutes * 60

    async def sample() -> None:
        while True:
            soak.samples.append((loop.time() - begin, rss_mb(pid)))
            await asyncio.sleep(options.sample_s)

    sampler = asyncio.create_task(sample())
    in_flight: set[asyncio.Task[None]] = set()
    async with grpc.aio.insecure_channel(stack.address) as channel:
        stub = payment_service_pb2_grpc.PaymentServiceStub(channel)
        tick, sent = begin, 0
        while tick < end:
            if len(in_flight) >= options.max_in_flight:
                soak.skipped += 1
            else:
                metadata = merchants[sent % len(merchants)]
                task = asyncio.create_task(_pay(stub, metadata, sent % 10 == 9, soak))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            sent += 1
            tick += 1 / options.rate
            await asyncio.sleep(max(0.0, tick - loop.time()))
        await asyncio.gather(*in_flight)
    soak.samples.append((loop.time() - begin, rss_mb(pid)))
    sampler.cancel()
    return soak


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """The command line of ``python -m bench.soak``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=60.0, help="payments started per second")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=60.0, help="growth is counted after")
    parser.add_argument("--sample-s", type=float, default=5.0, help="RSS sampling interval")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--merchants", type=int, default=8, help="payments go round robin")
    parser.add_argument(
        "--in-process-channel",
        action="store_true",
        help="pay through the in-process sandbox acquirer (default: the channel simulator"
        " process, so that paycore's RSS is not the simulated bank's memory of every charge)",
    )
    parser.add_argument("--note", default="", help="added to the RESULTS.md row")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak and report; 0 unless a call failed with UNKNOWN or INTERNAL."""
    arguments = list(argv) if argv is not None else sys.argv[1:]
    options = parse_options(arguments)
    stack = FaultStack.start()
    try:
        # The in-process acquirers remember every charge (a provider's records, for
        # status queries): that memory grows with every payment by design and is not
        # paycore's. By default the channel is the simulator process instead.
        channel = {} if options.in_process_channel else stack.run_simulator()
        stack.run_paycore(PAYCORE_LOG_LEVEL="WARNING", **channel)
        started = time.monotonic()
        soak = asyncio.run(_soak(stack, options))
        wall_s = time.monotonic() - started
    finally:
        stack.keep_log()  # PAYCORE_FAULTS_KEEP_LOGS, as in the fault suite
        stack.stop()
    warm = soak.rss_at(options.warmup_s)
    last = soak.samples[-1][1]
    peak = max(mb for _, mb in soak.samples)
    growth_min = max(wall_s - options.warmup_s, 1.0) / 60
    p50, _, p99 = latency_percentiles_ms(tuple(soak.latencies_s))
    codes = ", ".join(f"{name} {count}" for name, count in sorted(soak.codes.items()))
    summary = (
        f"RSS {soak.samples[0][1]:.0f} MB at start, {warm:.0f} MB after warm-up, {last:.0f} MB"
        f" at the end (peak {peak:.0f} MB): {last - warm:+.1f} MB"
        f" ({(last - warm) / growth_min:+.2f} MB/min) over {growth_min:.1f} min;"
        f" {sum(soak.codes.values()) / wall_s:.1f} answered/s; {codes}; {soak.skipped} skipped;"
        f" p50 {p50:.1f} ms, p99 {p99:.1f} ms"
    )
    print(summary)
    for line in soak.unexplained:  # with paycore's log (PAYCORE_FAULTS_KEEP_LOGS): why
        print("unexplained answer:", line)
    if not options.no_record:
        append_result(
            HEADING,
            "bench.soak",
            arguments,
            [
                f"{options.rate:g}/s x {options.minutes:g} min",
                f"{warm:.0f} -> {last:.0f} MB",
                f"{last - warm:+.1f} MB",
                f"{p50:.1f} / {p99:.1f} ms",
                f"{codes}; {soak.skipped} skipped; peak {peak:.0f} MB; {options.note}".strip()
                + "".join(f"; {line}" for line in soak.unexplained),
            ],
        )
    return 1 if soak.codes["UNKNOWN"] or soak.codes["INTERNAL"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
