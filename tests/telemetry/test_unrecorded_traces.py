"""Tracing that records nothing costs nothing: no span is started for a call nobody keeps.

With tracing off (the API's no-op provider) or for a call its sampler drops,
paycore starts no span for its stages; a dropped call keeps only the one span
the SDK needs to decide it was dropped. Counted at the tracer: every span
paycore starts goes through ``start_span``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from core.config import Settings
from core.telemetry import Telemetry
from paycore.v1 import payment_service_pb2_grpc
from tests.support.auth import merchant_metadata
from tests.support.requests import create_request
from tests.support.serving import serve_paycore

CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{CALLER_TRACE_ID}-00f067aa0ba902b7-01"


def count_started_spans(telemetry: Telemetry) -> list[str]:
    """The names of the spans started through ``telemetry``'s tracer from now on."""
    started: list[str] = []
    start_span: Callable[..., trace.Span] = telemetry.tracer.start_span

    def counting(name: str, *args: Any, **kwargs: Any) -> trace.Span:
        started.append(name)
        return start_span(name, *args, **kwargs)

    # start_as_current_span (both the SDK's and the no-op tracer's) calls self.start_span.
    telemetry.tracer.start_span = counting  # type: ignore[method-assign]
    return started


@asynccontextmanager
async def serving(settings: Settings, telemetry: Telemetry) -> AsyncIterator[Any]:
    """A PaymentService stub of a server using ``telemetry``, and the metadata of a merchant."""
    async with serve_paycore(settings, telemetry=telemetry) as paycore:
        metadata = await merchant_metadata(paycore.services.pool, f"mt_{uuid.uuid4().hex[:12]}")
        yield paycore.stub(payment_service_pb2_grpc.PaymentServiceStub), metadata


async def test_with_tracing_off_a_payment_starts_no_span(settings: Settings) -> None:
    telemetry = Telemetry.disabled()
    started = count_started_spans(telemetry)
    async with serving(settings, telemetry) as (stub, metadata):
        reply = await stub.CreatePayment(create_request(), metadata=metadata)

    assert reply.payment.id
    assert started == []


async def test_an_unsampled_payment_starts_only_the_span_its_sampler_drops(
    settings: Settings,
) -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exported))
    telemetry = Telemetry(provider)
    started = count_started_spans(telemetry)
    async with serving(settings, telemetry) as (stub, metadata):
        reply = await stub.CreatePayment(create_request(), metadata=metadata)

    assert reply.payment.id
    assert started == ["paycore.v1.PaymentService/CreatePayment"]  # no auth, gate, db.*, ...
    assert exported.get_finished_spans() == ()


def test_with_tracing_off_a_callers_traceparent_is_still_current_for_the_logs() -> None:
    telemetry = Telemetry.disabled()
    metadata = (("authorization", "Bearer x"), ("traceparent", TRACEPARENT))

    with telemetry.rpc_span("Svc/Method", metadata, {}):
        inside = trace.get_current_span().get_span_context()

    assert f"{inside.trace_id:032x}" == CALLER_TRACE_ID


def test_with_tracing_off_and_no_traceparent_no_trace_is_current() -> None:
    telemetry = Telemetry.disabled()

    with telemetry.rpc_span("Svc/Method", (("authorization", "Bearer x"),), {}):
        inside = trace.get_current_span().get_span_context()

    assert not inside.is_valid
