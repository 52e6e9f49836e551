"""The Grafana dashboard (deploy/grafana/paycore.json) graphs only what paycore exports.

Every panel's PromQL names metrics and labels; each must be in what a running
paycore serves on /metrics after real traffic (the Prometheus exporter adds
suffixes such as _total, _seconds, _bucket, so names are checked as served,
never as written in core/telemetry). A metric only a fault produces (deciding
without Redis) is checked on the same exporter fed by every Telemetry method.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import grpc
import pytest
from google.type import money_pb2
from prometheus_client.parser import text_string_to_metric_families

from core.config import Settings
from core.runtime.telemetry import build_telemetry
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import payment_service_pb2_grpc, webhook_service_pb2_grpc
from paycore.v1 import webhook_service_pb2 as hooks
from tests.support.auth import Metadata, dsn_merchant_metadata

from .operated import http_port, start_operated
from .processes import Spawn, wait_for

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "paycore.json"
FAULT_ONLY = frozenset({"paycore_ratelimit_fail_open_total"})
"""Exported only when Redis is away: checked in process, not on the running server."""

_METRIC = re.compile(r"\b(paycore_[a-z0-9_]+)\b")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


def panel_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
    ]


def referenced(expr: str) -> tuple[set[str], set[str]]:
    """The metric names and label names one PromQL expression uses."""
    labels = {name.strip() for group in _GROUPING.findall(expr) for name in group.split(",")}
    for selector in _SELECTOR.findall(expr):
        labels |= set(_MATCHER.findall(selector))
    # Label names may start with paycore_ too: metric names are what is left outside them.
    bare = _SELECTOR.sub("", _GROUPING.sub("", expr))
    return set(_METRIC.findall(bare)), labels - {""}


def exported(exposition: str) -> dict[str, set[str]]:
    """Sample names served on /metrics, each with the label names it carries."""
    served: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            served.setdefault(sample.name, set()).update(sample.labels)
    return served


def missing(served: dict[str, set[str]], skip: frozenset[str] = frozenset()) -> list[str]:
    """What the dashboard queries that ``served`` lacks, one line per panel and name."""
    problems = []
    for title, expr in panel_queries():
        metrics, labels = referenced(expr)
        for metric in sorted(metrics - skip):
            if metric not in served:
                problems.append(f"{title}: metric {metric} is not exported")
        carried = set().union(*(served.get(metric, set()) for metric in metrics))
        if metrics - skip and metrics <= set(served):
            problems.extend(f"{title}: label {label} is not exported" for label in labels - carried)
    return problems


def test_the_dashboard_has_the_panels_an_operator_needs() -> None:
    queries = " ".join(expr for _, expr in panel_queries())

    for metric in (
        "paycore_rpc_duration_seconds_count",
        "paycore_rpc_duration_seconds_bucket",
        "paycore_declines_total",
        "paycore_channel_breaker",
        "paycore_outbox_lag_seconds_bucket",
        "paycore_webhook_attempts_total",
    ):
        assert metric in queries


async def test_every_panel_queries_what_the_telemetry_exporter_serves() -> None:
    runtime = build_telemetry(Settings(http_port=0, metrics_exporter="prometheus"))
    telemetry = runtime.telemetry
    telemetry.rpc_finished("CreatePayment", "OK", 0.02, "paycore.v1.PaymentService")
    telemetry.risk_assessed("decline", 90)
    telemetry.channel_called("sandbox_card", "authorize", "declined", 0.01, "card_declined")
    telemetry.request_repeated("replay")
    telemetry.rate_limited("writes")
    telemetry.gate_failed_open()
    telemetry.webhook_attempted("delivered", 0.05)
    telemetry.outbox_lagged(0.3)
    telemetry.observe_pool("postgresql", lambda: (1, 2, 3))
    telemetry.observe_breakers(["closed", "open"], lambda: {"sandbox_card": "open"})
    await runtime.start_http()
    try:
        url = f"http://{runtime.http.host}:{runtime.http.port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            served = exported(await response.text())
    finally:
        await runtime.close()

    assert missing(served) == []


class _Receiver(BaseHTTPRequestHandler):
    """A merchant's webhook endpoint: answers 200 and counts what it got."""

    received: list[bytes] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        _Receiver.received.append(self.rfile.read(length))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def webhook_receiver() -> Iterator[str]:
    """The URL of a webhook endpoint on loopback, for the test's duration."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()
    server.server_close()


def _create(
    payments: payment_service_pb2_grpc.PaymentServiceStub,
    merchant: Metadata,
    number: str,
    units: int,
    request_id: str = "",
) -> pb.Payment:
    request = svc.CreatePaymentRequest(
        request_id=request_id or str(uuid.uuid4()),
        amount=money_pb2.Money(currency_code="USD", units=units),
        payment_method=pb.PaymentMethodData(
            card=pb.CardData(number=number, exp_month=1, exp_year=2099)
        ),
    )
    return payments.CreatePayment(request, metadata=merchant, timeout=30).payment


@pytest.mark.slow
async def test_every_panel_queries_what_a_running_paycore_serves(
    spawn: Spawn, postgres_dsn: str, redis_url: str, webhook_receiver: str
) -> None:
    merchant = await dsn_merchant_metadata(postgres_dsn, f"m_dash_{uuid.uuid4().hex[:8]}")
    server, port = start_operated(
        spawn,
        postgres_dsn,
        redis_url,
        PAYCORE_WEBHOOK_REQUIRE_HTTPS="false",
        PAYCORE_WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        PAYCORE_WEBHOOK_POLL_INTERVAL_S="0.1",
        # One read a second: the third GetPayment in a row is rate limited.
        PAYCORE_RATE_LIMITS__READS_PER_S="1",
        PAYCORE_RATE_LIMITS__READS_BURST="1",
    )
    _Receiver.received.clear()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        webhook_service_pb2_grpc.WebhookServiceStub(channel).CreateWebhookEndpoint(
            hooks.CreateWebhookEndpointRequest(request_id=str(uuid.uuid4()), url=webhook_receiver),
            metadata=merchant,
            timeout=30,
        )
        payments = payment_service_pb2_grpc.PaymentServiceStub(channel)
        request_id = str(uuid.uuid4())
        paid = _create(payments, merchant, "4242424242424242", 20, request_id)
        _create(payments, merchant, "4242424242424242", 20, request_id)  # a replay
        declined = _create(payments, merchant, "4000000000000002", 20)  # the issuer declines
        blocked = _create(payments, merchant, "4242424242424242", 2_000_000)  # over the limit
        limited = []
        for _ in range(3):
            try:
                payments.GetPayment(
                    svc.GetPaymentRequest(payment_id=paid.id), metadata=merchant, timeout=30
                )
            except grpc.RpcError as error:
                limited.append(error.code())
    metrics_url = f"http://127.0.0.1:{http_port(server)}/metrics"

    def scrape() -> dict[str, set[str]]:
        with urllib.request.urlopen(metrics_url, timeout=10) as response:
            return exported(response.read().decode())

    # The relay POSTs the payment's events and records each attempt once it is answered;
    # a first attempt may be one to retry, so wait for one the receiver really got.
    wait_for(
        lambda: bool(_Receiver.received) and "paycore_webhook_attempts_total" in scrape(),
        what="a webhook delivery",
    )
    served = scrape()

    assert paid.state == pb.Payment.STATE_CAPTURED
    assert declined.failure.code == "card_declined" and blocked.failure.code == "risk_declined"
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in limited
    assert _Receiver.received
    assert missing(served, skip=FAULT_ONLY) == []
