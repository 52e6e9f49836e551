"""Exported traces and metrics never carry a full card number (nor do logs), whatever the path.

A server exports every span (sample ratio 1) into memory while cards are
tokenized, paid with in full, refused for bad fields and refused for lack of
raw-card permission; then every span name, attribute, event and status
message, and every metric attribute, is searched for the card numbers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core.config import Settings
from core.telemetry import Telemetry
from paycore.v1 import card_vault_service_pb2 as vault_svc
from paycore.v1 import card_vault_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from tests.support.auth import merchant_metadata
from tests.support.requests import EXP_YEAR, create_request, distinctive_pan, new_request_id
from tests.support.serving import serve_paycore


@pytest.fixture
async def traced(
    settings: Settings,
) -> AsyncIterator[tuple[Any, Any, InMemorySpanExporter, InMemoryMetricReader, Any]]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[metrics]))
    async with serve_paycore(settings, telemetry=telemetry) as paycore:
        yield (
            paycore.stub(payment_service_pb2_grpc.PaymentServiceStub),
            paycore.stub(card_vault_service_pb2_grpc.CardVaultServiceStub),
            spans,
            metrics,
            paycore.services,
        )


def _card(number: str, **fields: Any) -> pb.CardData:
    values: dict[str, Any] = {"exp_month": 12, "exp_year": EXP_YEAR, "cvc": "123", **fields}
    return pb.CardData(number=number, **values)


def _span_text(exporter: InMemorySpanExporter) -> str:
    parts: list[str] = []
    for span in exporter.get_finished_spans():
        parts += [span.name, str(span.status.description or "")]
        parts += [f"{k}={v!r}" for k, v in (span.attributes or {}).items()]
        for event in span.events:
            parts += [event.name] + [f"{k}={v!r}" for k, v in (event.attributes or {}).items()]
    return "\n".join(parts)


def _metric_text(reader: InMemoryMetricReader) -> str:
    data = reader.get_metrics_data()
    assert data is not None
    return "\n".join(
        f"{metric.name} {dict(point.attributes or {})}"
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    )


async def test_no_full_card_number_in_spans_metrics_or_logs(
    traced: tuple[Any, Any, InMemorySpanExporter, InMemoryMetricReader, Any],
    merchant_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub, vault, spans, metrics, services = traced
    caplog.set_level(logging.DEBUG)
    allowed = await merchant_metadata(services.pool, merchant_id)
    tokenize_only = await merchant_metadata(
        services.pool, f"{merchant_id}_t", raw_card_data_allowed=False
    )
    tokenized, paid_raw, refused_raw, invalid = (distinctive_pan() for _ in range(4))

    token = (
        await vault.TokenizeCard(
            vault_svc.TokenizeCardRequest(request_id=new_request_id(), card=_card(tokenized)),
            metadata=allowed,
        )
    ).token
    by_token = await stub.CreatePayment(
        create_request(payment_method=pb.PaymentMethodData(card_token=token.id)), metadata=allowed
    )
    in_full = await stub.CreatePayment(
        create_request(payment_method=pb.PaymentMethodData(card=_card(paid_raw))), metadata=allowed
    )
    with pytest.raises(grpc.aio.AioRpcError) as not_allowed:
        await stub.CreatePayment(
            create_request(payment_method=pb.PaymentMethodData(card=_card(refused_raw))),
            metadata=tokenize_only,
        )
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await stub.CreatePayment(
            create_request(payment_method=pb.PaymentMethodData(card=_card(invalid, exp_month=13))),
            metadata=allowed,
        )

    assert by_token.payment.state == in_full.payment.state == pb.Payment.STATE_CAPTURED
    assert not_allowed.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert malformed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    span_text, metric_text = _span_text(spans), _metric_text(metrics)
    assert "paycore.v1.PaymentService/CreatePayment" in span_text  # spans were exported
    assert "paycore.v1.CardVaultService/TokenizeCard" in span_text
    for pan in (tokenized, paid_raw, refused_raw, invalid):
        assert pan not in span_text
        assert pan not in metric_text
        assert pan not in caplog.text
        assert pan not in (not_allowed.value.details() or "") + (malformed.value.details() or "")
