"""A merchant's dispute rate (GetDisputeRate) and the disputes counter without a merchant label.

Real PostgreSQL and Redis; the metric lands in an in-memory OpenTelemetry reader.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from core.config import Settings
from core.telemetry import Telemetry
from paycore.v1 import dispute_service_pb2 as dsvc
from tests.disputes.conftest import DisputeStack, dispute_stack
from tests.support.expect import expect_error
from tests.support.requests import CARD_DECLINED, card, cents, new_request_id, usd


def _window(start: datetime, end: datetime) -> dsvc.GetDisputeRateRequest:
    request = dsvc.GetDisputeRateRequest()
    request.start_time.FromDatetime(start)
    request.end_time.FromDatetime(end)
    return request


async def _rate(
    stack: DisputeStack, request: dsvc.GetDisputeRateRequest
) -> dsvc.GetDisputeRateResponse:
    response: dsvc.GetDisputeRateResponse = await stack.disputes.GetDisputeRate(
        request, metadata=stack.metadata
    )
    return response


async def test_the_rate_is_chargebacks_per_captured_payment_within_the_window(
    stack: DisputeStack,
) -> None:
    api = stack.served.api
    disputed = await api.captured(amount=usd(40))
    asked = await api.captured(amount=usd(20))
    for _ in range(2):
        await api.captured(amount=usd(10))
    await api.create(payment_method=card(CARD_DECLINED))  # never captured: not counted
    assert await stack.notify(disputed, amount=2_500) == (200, "[accepted]")
    assert await stack.notify(asked, kind="inquiry") == (200, "[accepted]")
    now = datetime.now(UTC)

    rate = await _rate(stack, _window(now - timedelta(hours=1), now + timedelta(hours=1)))

    assert (rate.captured_payments, rate.disputes, rate.inquiries) == (4, 1, 1)
    assert rate.rate_basis_points == 2_500
    (usd_rate,) = rate.currencies
    assert usd_rate.currency_code == "USD"
    assert cents(usd_rate.captured_amount) == 8_000
    assert cents(usd_rate.disputed_amount) == 2_500
    assert usd_rate.disputed_amount_basis_points == 3_125
    # A window before any of it, and another merchant: nothing.
    earlier = await _rate(stack, _window(now - timedelta(days=3), now - timedelta(days=2)))
    assert (earlier.captured_payments, earlier.disputes, len(earlier.currencies)) == (0, 0, 0)


async def test_a_window_that_is_not_a_valid_range_is_refused(stack: DisputeStack) -> None:
    now = datetime.now(UTC)
    no_end = dsvc.GetDisputeRateRequest(start_time=Timestamp(seconds=int(now.timestamp())))
    for request in (
        no_end,
        _window(now, now),
        _window(now, now - timedelta(days=1)),
        _window(now - timedelta(days=367), now),
        dsvc.GetDisputeRateRequest(
            start_time=Timestamp(seconds=0), end_time=Timestamp(seconds=10, nanos=-1)
        ),
    ):
        await expect_error(
            _rate(stack, request), grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED"
        )


async def test_disputes_are_counted_by_kind_reason_and_outcome_never_by_merchant(
    settings: Settings, tmp_path: Path
) -> None:
    reader = InMemoryMetricReader()
    telemetry = Telemetry(meter_provider=MeterProvider(metric_readers=[reader]))
    async with dispute_stack(settings, tmp_path, telemetry) as stack:
        payment = await stack.served.api.captured(amount=usd(40))
        assert await stack.notify(payment) == (200, "[accepted]")
        assert await stack.notify(payment) == (200, "[accepted]")  # a repeat counts nothing
        (dispute,) = await stack.disputes_of(payment.id)
        await stack.disputes.AcceptDispute(
            dsvc.AcceptDisputeRequest(request_id=new_request_id(), dispute_id=dispute.id),
            metadata=stack.metadata,
        )

    points = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "paycore.disputes":
                    for point in metric.data.data_points:
                        attributes = dict(point.attributes or {})
                        value = getattr(point, "value")  # noqa: B009 (a counter's points)
                        points[attributes.pop("paycore.dispute.outcome")] = (attributes, value)
    chargeback = {"paycore.dispute.kind": "chargeback", "paycore.dispute.reason": "fraudulent"}
    assert points == {"opened": (chargeback, 1), "lost": (chargeback, 1)}
