"""The telemetry calls of one CreatePayment, alone: CPU per RPC with telemetry off and on.

``telemetry_overhead`` measures the whole server, where telemetry is a few percent
of the CPU and the machine's noise is larger than that. This replays, in a
loop and without any I/O, exactly the telemetry calls the pipeline and the
service make for one approved CreatePayment (the RPC span, the auth, gate,
db.claim, risk, route, channel.authorize and db.commit stages with their
attributes, the risk, channel and RPC metrics) and reports the process CPU per
replayed RPC for:

- **off**: ``Telemetry.disabled()`` (what ``paycore run`` has with
  ``trace_exporter = "none"`` and ``metrics_exporter = "none"``);
- **on**: ``bench.telemetry_overhead``'s "on" (the Prometheus metrics as
  ``paycore run`` builds them, traces sampled at ``--sample-ratio`` into a batch
  processor that drops them);
- **metrics**: the metrics of "on" with tracing off (``paycore run``'s default).

Run it in another checkout's environment for a before/after (it uses only the
``Telemetry`` API both have; ``rpc_span`` where it exists)::

    PYTHONPATH=clients/python:. python -m bench.telemetry_calls
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager

from opentelemetry import trace

from bench.telemetry_overhead import TelemetryOn
from core.ports import telemetry as names
from core.telemetry import Telemetry

METHOD = "CreatePayment"
SPAN = f"paycore.v1.PaymentService/{METHOD}"
METADATA = (("authorization", "Bearer pc_live_0123456789"), ("user-agent", "grpc-python/1.85"))
ATTRIBUTES = {"rpc.system": "grpc", names.RPC_SERVICE: "paycore.v1.PaymentService"}


def _rpc_span(telemetry: Telemetry) -> AbstractContextManager[trace.Span]:
    rpc_span = getattr(telemetry, "rpc_span", None)
    if rpc_span is not None:
        span: AbstractContextManager[trace.Span] = rpc_span(SPAN, METADATA, ATTRIBUTES)
        return span
    return telemetry.tracer.start_as_current_span(  # before rpc_span existed
        SPAN, kind=trace.SpanKind.SERVER, attributes=ATTRIBUTES
    )


def one_create(telemetry: Telemetry) -> None:
    """The telemetry calls of one approved CreatePayment, in the order the server makes them."""
    with _rpc_span(telemetry) as span:
        with telemetry.stage("auth"):
            pass
        span.set_attribute(names.MERCHANT, "merchant_1")
        span.set_attribute(names.REQUEST_ID, "request_1")
        with telemetry.stage("gate") as gate:
            gate.set_attribute(names.ADMISSION, "new")
        with telemetry.stage("db.claim"):
            with telemetry.stage("risk") as risk:
                risk.set_attribute(names.DECISION, "approve")
                risk.set_attribute(names.SCORE, 12)
            telemetry.risk_assessed("approve", 12)
            with telemetry.stage("route"):
                pass
        attempt = {names.CHANNEL: "sandbox_card", names.ATTEMPT_ID: "attempt_1"}
        with telemetry.stage("channel.authorize", **attempt) as channel:
            channel.set_attribute(names.OUTCOME, "succeeded")
        telemetry.channel_called("sandbox_card", "authorize", "succeeded", 0.002)
        with telemetry.stage("db.commit"):
            pass
        span.set_attribute(names.GRPC_STATUS, "OK")
        telemetry.rpc_finished(METHOD, "OK", 0.02)


def cpu_us_per_create(telemetry: Telemetry, calls: int) -> float:
    """Process CPU per replayed CreatePayment, in microseconds."""
    started = time.process_time()
    for _ in range(calls):
        one_create(telemetry)
    return (time.process_time() - started) / calls * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    """Print the median CPU per replayed RPC of each configuration over alternating rounds."""
    parser = argparse.ArgumentParser(prog="python -m bench.telemetry_calls")
    parser.add_argument("--calls", type=int, default=20_000, help="per configuration and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sample-ratio", type=float, default=0.1)
    options = parser.parse_args(argv)
    on = TelemetryOn(options.sample_ratio)
    metrics = Telemetry(None, on.telemetry.meter_provider)
    configurations: dict[str, Telemetry] = {
        "off": Telemetry.disabled(),
        "on": on.telemetry,
        "metrics": metrics,
    }
    figures: dict[str, list[float]] = {name: [] for name in configurations}
    for telemetry in configurations.values():
        cpu_us_per_create(telemetry, options.calls // 10)  # warm: instruments, caches
    for _ in range(options.rounds):
        for name, telemetry in configurations.items():
            figures[name].append(cpu_us_per_create(telemetry, options.calls))
    for name, rounds in figures.items():
        print(
            f"{name:>7}: {statistics.median(rounds):6.1f} us CPU per CreatePayment"
            f" (rounds {', '.join(f'{r:.1f}' for r in rounds)})"
        )
    asyncio.run(on.close())


if __name__ == "__main__":
    main()
