"""Settings -> OpenTelemetry providers, exporters and the HTTP port of one server process.

``build_telemetry`` turns the ``trace_*``, ``metrics_exporter``, ``otlp_endpoint``
and ``http_*`` settings into a ``TelemetryRuntime``: an SDK ``TracerProvider`` and
``MeterProvider`` wrapped in a ``Telemetry`` for the components, and the process'
HTTP endpoint (``/metrics`` when Prometheus is chosen, ``/healthz`` always).

The OpenTelemetry *global* providers are deliberately left alone. Components get
their ``Telemetry`` injected, so nothing needs the globals; the globals can be set
only once per process, which would tie every runtime built in one test process to
the first; and leaving them no-op keeps third-party auto-instrumentation from
emitting spans and metrics paycore does not document.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import CollectorRegistry

from core.config import ConfigError, Settings, validate
from core.telemetry.http import HttpEndpoint
from core.telemetry.instruments import Telemetry

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Histogram buckets of the ``*.duration`` instruments, in seconds.

The SDK's default buckets (0, 5, 10 ... 10000) suit milliseconds; for seconds they
would put nearly every RPC in the first bucket.
"""
RISK_SCORE_BUCKETS = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0)
OTLP_TIMEOUT_S = 5.0
"""How long one OTLP export may take, retries included, before its data is dropped.

It bounds the flush at shutdown when the collector is down; the supervisor
kills a worker ``grace_period_s`` + 10 s after SIGTERM.
"""


class TelemetryRuntime:
    """The telemetry of one server process: providers, exporters and the HTTP endpoint."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None,
        meter_provider: MeterProvider | None,
        http: HttpEndpoint,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.telemetry = Telemetry(tracer_provider, meter_provider)
        """What components are given (a no-op part for each exporter set to "none")."""
        self.http = http
        """The HTTP endpoint; add routes to ``http.app`` before ``start_http()``."""
        self.registry = registry
        """The Prometheus registry behind ``/metrics`` (None unless metrics_exporter is
        "prometheus"). Private to this runtime, never prometheus_client's global one."""
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._closed = False

    async def start_http(self) -> int:
        """Start the HTTP endpoint; returns its bound port."""
        return await self.http.start()

    async def close(self) -> None:
        """Stop the HTTP endpoint, then flush and shut down the providers (idempotent).

        Shutting down exports what is still buffered (spans in the batch
        processor, the last metric interval), so both run at once in threads: with
        OTLP and an unreachable collector this takes about ``OTLP_TIMEOUT_S``.
        """
        if self._closed:
            return
        self._closed = True
        await self.http.stop()
        shutdowns = [
            asyncio.to_thread(provider.shutdown)
            for provider in (self._tracer_provider, self._meter_provider)
            if provider is not None
        ]
        await asyncio.gather(*shutdowns)


def build_telemetry(settings: Settings, worker_index: int = 0) -> TelemetryRuntime:
    """The telemetry of worker ``worker_index`` as ``settings`` ask for it.

    Nothing is started and nothing connects: OTLP exporters connect on their first
    export, and the HTTP endpoint binds in ``start_http()`` on ``http_port +
    worker_index`` (any free port when ``http_port`` is 0). Raises ``ConfigError``
    naming the field for settings that cannot work.
    """
    validate(settings)
    resource = Resource.create(
        {
            SERVICE_NAME: settings.service_name,
            SERVICE_INSTANCE_ID: f"{socket.gethostname()}:{os.getpid()}",
        }
    )
    http_port = settings.http_port + worker_index if settings.http_port else 0
    http = HttpEndpoint(settings.http_host, http_port)
    registry: CollectorRegistry | None = None
    reader: MetricReader | None
    match settings.metrics_exporter:
        case "none":
            reader = None
        case "prometheus":
            registry = CollectorRegistry()
            reader = PrometheusMetricReader(registry=registry)
            http.serve_metrics(registry)
        case "console":
            reader = PeriodicExportingMetricReader(ConsoleMetricExporter())
        case "otlp":
            reader = PeriodicExportingMetricReader(
                OTLPMetricExporter(
                    endpoint=settings.otlp_endpoint,
                    insecure=_insecure(settings),
                    timeout=OTLP_TIMEOUT_S,
                )
            )
        case other:
            raise ConfigError(f"metrics_exporter: unknown exporter {other!r}")
    meter_provider = None
    if reader is not None:
        meter_provider = MeterProvider(
            metric_readers=[reader], resource=resource, views=_views(), shutdown_on_exit=False
        )
    tracer_provider = _tracer_provider(settings, resource)
    log.info(
        "telemetry: traces %s (sample ratio %g), metrics %s",
        settings.trace_exporter,
        settings.trace_sample_ratio,
        settings.metrics_exporter,
    )
    return TelemetryRuntime(tracer_provider, meter_provider, http, registry=registry)


def _tracer_provider(settings: Settings, resource: Resource) -> TracerProvider | None:
    exporter: SpanExporter
    match settings.trace_exporter:
        case "none":
            return None
        case "console":
            exporter = ConsoleSpanExporter()
        case "otlp":
            exporter = OTLPSpanExporter(
                endpoint=settings.otlp_endpoint,
                insecure=_insecure(settings),
                timeout=OTLP_TIMEOUT_S,
            )
        case other:
            raise ConfigError(f"trace_exporter: unknown exporter {other!r}")
    # Parent-based: a caller's sampling decision (the traceparent flag) is always
    # followed, so a trace sampled upstream is never cut at paycore; only traces
    # that start here are sampled at trace_sample_ratio.
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
        resource=resource,
        shutdown_on_exit=False,
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _insecure(settings: Settings) -> bool:
    """Plaintext gRPC for ``http://`` endpoints, TLS for ``https://``."""
    return settings.otlp_endpoint.startswith("http://")


def _views() -> list[View]:
    latency = ExplicitBucketHistogramAggregation(LATENCY_BUCKETS_S)
    return [
        View(instrument_name="paycore.*.duration", aggregation=latency),
        View(
            instrument_name="paycore.risk.score",
            aggregation=ExplicitBucketHistogramAggregation(RISK_SCORE_BUCKETS),
        ),
    ]
