"""What an on-call engineer sees: the span tree of one payment and the metrics of a scenario.

A paycore server runs in-process with SDK providers whose exporters keep
everything in memory, so the tests read exactly what would be exported.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from core.app import Services
from core.config import Settings
from core.telemetry import Telemetry
from paycore.v1 import payment_service_pb2_grpc
from tests.support.auth import merchant_metadata
from tests.support.requests import card, create_request, request_for, usd
from tests.support.serving import serve_paycore

# A W3C traceparent as a caller's tracing library would send it.
CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"


@dataclass
class Observed:
    """A server whose telemetry lands in memory."""

    stub: Any
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    services: Services

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    async def finished_through(self, root: str) -> list[ReadableSpan]:
        """The finished spans once the RPC span ``root`` has ended.

        The client can see an error status a moment before the server's RPC
        span closes (the status is sent from inside it), so wait for it.
        """
        deadline = asyncio.get_running_loop().time() + 5
        while not any(span.name == root for span in self.finished()):
            assert asyncio.get_running_loop().time() < deadline, f"no span {root}"
            await asyncio.sleep(0.01)
        return self.finished()

    def points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        """(attributes, value) of every data point of one metric."""
        data = self.metrics.get_metrics_data()
        assert data is not None
        found = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        for point in metric.data.data_points:
                            # Counters and gauges have a value; histograms a count.
                            value = getattr(point, "value", None)
                            if value is None:
                                value = getattr(point, "count")  # noqa: B009
                            found.append((dict(point.attributes or {}), value))
        return found


@pytest.fixture
async def observed(settings: Settings) -> AsyncIterator[Observed]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[reader]))
    async with serve_paycore(settings, telemetry=telemetry) as paycore:
        yield Observed(
            paycore.stub(payment_service_pb2_grpc.PaymentServiceStub),
            spans,
            reader,
            paycore.services,
        )


async def _merchant(services: Services) -> tuple[str, tuple[tuple[str, str], ...]]:
    merchant_id = f"mt_{uuid.uuid4().hex[:12]}"
    return merchant_id, await merchant_metadata(services.pool, merchant_id)


def _by_name(spans: list[ReadableSpan]) -> dict[str, ReadableSpan]:
    named = {span.name: span for span in spans}
    assert len(named) == len(spans), f"span names repeat: {[s.name for s in spans]}"
    return named


async def test_one_create_is_one_trace_with_a_span_per_stage(observed: Observed) -> None:
    merchant_id, metadata = await _merchant(observed.services)
    request = create_request()

    reply = await observed.stub.CreatePayment(
        request, metadata=(*metadata, ("traceparent", TRACEPARENT))
    )

    spans = _by_name(observed.finished())
    root = spans["paycore.v1.PaymentService/CreatePayment"]
    # The caller's trace continues: same trace id, the caller's span is the parent.
    assert format(root.context.trace_id, "032x") == CALLER_TRACE_ID
    assert root.parent is not None and format(root.parent.span_id, "016x") == CALLER_SPAN_ID
    assert root.kind is SpanKind.SERVER
    assert root.attributes is not None
    assert root.attributes["paycore.merchant_id"] == merchant_id
    assert root.attributes["paycore.request_id"] == request.request_id
    assert root.attributes["paycore.payment_id"] == reply.payment.id
    assert root.attributes["rpc.grpc.status_code"] == "OK"
    assert root.attributes["rpc.method"] == "CreatePayment"

    def parent_of(name: str) -> str:
        parent = spans[name].parent
        assert parent is not None, name
        (found,) = [s.name for s in spans.values() if s.context.span_id == parent.span_id]
        return found

    assert set(spans) == {
        root.name,
        "auth",
        "gate",
        "db.claim",
        "risk",
        "route",
        "channel.authorize",
        "db.commit",
    }
    for stage in ("auth", "gate", "db.claim", "channel.authorize", "db.commit"):
        assert parent_of(stage) == root.name
    assert parent_of("risk") == "db.claim"
    assert parent_of("route") == "db.claim"
    assert {s.context.trace_id for s in spans.values()} == {root.context.trace_id}

    risk = spans["risk"].attributes or {}
    assert (risk["paycore.risk.decision"], risk["paycore.risk.score"]) == ("approve", 0)
    assert (spans["route"].attributes or {})["paycore.channel"] == "sandbox_card"
    channel = spans["channel.authorize"].attributes or {}
    assert channel["paycore.channel"] == "sandbox_card"
    assert channel["paycore.channel.outcome"] == "succeeded"
    assert (spans["gate"].attributes or {})["paycore.gate.admission"] == "new"
    # Stages happen in order.
    order = sorted(
        ("auth", "gate", "db.claim", "channel.authorize", "db.commit"),
        key=lambda name: spans[name].start_time or 0,
    )
    assert order == ["auth", "gate", "db.claim", "channel.authorize", "db.commit"]


async def test_a_call_without_a_traceparent_starts_a_new_trace(observed: Observed) -> None:
    _, metadata = await _merchant(observed.services)

    await observed.stub.CreatePayment(create_request(), metadata=metadata)

    root = _by_name(observed.finished())["paycore.v1.PaymentService/CreatePayment"]
    assert root.parent is None
    assert format(root.context.trace_id, "032x") != CALLER_TRACE_ID


async def test_a_client_mistake_is_recorded_with_its_code_but_not_as_a_server_error(
    observed: Observed,
) -> None:
    _, metadata = await _merchant(observed.services)

    with pytest.raises(grpc.aio.AioRpcError):
        await observed.stub.CreatePayment(create_request(amount=usd(0)), metadata=metadata)

    spans = _by_name(await observed.finished_through("paycore.v1.PaymentService/CreatePayment"))
    root = spans["paycore.v1.PaymentService/CreatePayment"]
    assert (root.attributes or {})["rpc.grpc.status_code"] == "INVALID_ARGUMENT"
    assert all(span.status.status_code.name == "UNSET" for span in spans.values())


async def test_an_illegal_transition_names_its_reason_on_the_stage_without_an_error(
    observed: Observed,
) -> None:
    _, metadata = await _merchant(observed.services)
    captured = await observed.stub.CreatePayment(create_request(), metadata=metadata)
    observed.spans.clear()

    with pytest.raises(grpc.aio.AioRpcError):
        await observed.stub.CancelPayment(
            request_for("CancelPayment", captured.payment.id), metadata=metadata
        )

    spans = _by_name(await observed.finished_through("paycore.v1.PaymentService/CancelPayment"))
    claim = spans["db.claim"]
    assert (claim.attributes or {})["paycore.error.reason"] == "PAYMENT_NOT_CANCELABLE"
    assert claim.status.status_code.name == "UNSET"
    root = spans["paycore.v1.PaymentService/CancelPayment"]
    assert (root.attributes or {})["rpc.grpc.status_code"] == "FAILED_PRECONDITION"


async def test_metrics_after_a_scripted_scenario(observed: Observed) -> None:
    _, metadata = await _merchant(observed.services)
    approved = create_request()
    await observed.stub.CreatePayment(approved, metadata=metadata)  # approved, captured
    await observed.stub.CreatePayment(approved, metadata=metadata)  # a replay
    with pytest.raises(grpc.aio.AioRpcError):  # same request_id, other request: a conflict
        await observed.stub.CreatePayment(
            create_request(request_id=approved.request_id, amount=usd(99)), metadata=metadata
        )
    await observed.stub.CreatePayment(  # declined by risk: above the amount limit
        create_request(amount=usd(2_000_000)), metadata=metadata
    )
    await observed.stub.CreatePayment(  # declined by the issuer
        create_request(payment_method=card("4000000000000002")), metadata=metadata
    )
    with pytest.raises(grpc.aio.AioRpcError):  # invalid: a client mistake
        await observed.stub.CreatePayment(create_request(amount=usd(0)), metadata=metadata)

    # One histogram per RPC: its count by method and code is the request count.
    requests = {
        attrs["rpc.grpc.status_code"]: count
        for attrs, count in observed.points("paycore.rpc.duration")
        if attrs["rpc.method"] == "CreatePayment"
    }
    assert requests == {"OK": 4, "INVALID_ARGUMENT": 2}
    decisions = {
        a["paycore.risk.decision"]: v for a, v in observed.points("paycore.risk.decisions")
    }
    assert decisions == {"approve": 2, "decline": 1}
    assert sum(count for _, count in observed.points("paycore.risk.score")) == 3
    attempts = {
        (a["paycore.channel"], a["paycore.channel.operation"], a["paycore.channel.outcome"]): v
        for a, v in observed.points("paycore.channel.attempts")
    }
    assert attempts == {
        ("sandbox_card", "authorize", "succeeded"): 1,
        ("sandbox_card", "authorize", "declined"): 1,
    }
    repeats = {
        a["paycore.idempotency.answer"]: v
        for a, v in observed.points("paycore.idempotency.repeats")
    }
    assert repeats == {"replay": 1, "conflict": 1}
    pools = {
        (a["paycore.pool"], a["state"]): v for a, v in observed.points("paycore.pool.connections")
    }
    assert pools[("postgresql", "max")] == observed.services.pool.get_max_size()
    assert ("redis", "in_use") in pools


async def test_rate_limit_rejections_are_counted(settings: Settings) -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(meter_provider=MeterProvider(metric_readers=[reader]))
    limits = settings.rate_limits.__class__(writes_per_s=0.1, writes_burst=1)
    async with serve_paycore(settings.replace(rate_limits=limits), telemetry=telemetry) as paycore:
        _, metadata = await _merchant(paycore.services)
        stub = paycore.stub(payment_service_pb2_grpc.PaymentServiceStub)
        await stub.CreatePayment(create_request(), metadata=metadata)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreatePayment(create_request(), metadata=metadata)

    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    data = reader.get_metrics_data()
    assert data is not None
    rejections = [
        (dict(point.attributes or {}), getattr(point, "value"))  # noqa: B009
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "paycore.ratelimit.rejections"
        for point in metric.data.data_points
    ]
    assert rejections == [({"paycore.ratelimit.class": "writes"}, 1)]
