"""Settings become OpenTelemetry providers and an HTTP port that Prometheus can scrape."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import aiohttp
import grpc
import pytest
from opentelemetry import metrics, trace
from opentelemetry.propagate import extract
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from core.config import ConfigError, Settings, load_settings
from core.runtime.telemetry import TelemetryRuntime, build_telemetry

SAMPLED_PARENT = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
UNSAMPLED_PARENT = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}

# Any free port: several test processes may run at once.
ANY_PORT = Settings(http_port=0)


@asynccontextmanager
async def started(settings: Settings, worker_index: int = 0) -> AsyncIterator[TelemetryRuntime]:
    """A runtime with its HTTP port open, closed afterwards."""
    runtime = build_telemetry(settings, worker_index)
    try:
        await runtime.start_http()
        yield runtime
    finally:
        await runtime.close()


async def get(runtime: TelemetryRuntime, path: str) -> tuple[int, str, str]:
    """``GET path`` on the runtime's HTTP port: status, content type, body."""
    url = f"http://{runtime.http.host}:{runtime.http.port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


def series(exposition: str, name: str) -> list[str]:
    """The sample lines of one metric name in a Prometheus text exposition."""
    return [line for line in exposition.splitlines() if line.startswith(name + "{")]


async def test_metrics_endpoint_shows_rpc_counts_with_method_and_status_labels() -> None:
    async with started(ANY_PORT) as runtime:
        runtime.telemetry.rpc_finished("CreatePayment", "OK", 0.02)
        runtime.telemetry.rpc_finished("CreatePayment", "OK", 0.03)
        runtime.telemetry.rpc_finished("GetPayment", "NOT_FOUND", 0.001)

        status, content_type, body = await get(runtime, "/metrics")

    assert status == 200
    assert content_type.startswith("text/plain; version=")
    requests = series(body, "paycore_rpc_duration_seconds_count")  # the histogram counts RPCs
    assert any(
        'rpc_method="CreatePayment"' in line and 'rpc_grpc_status_code="OK"' in line
        for line in requests
        if line.endswith(" 2.0")
    ), requests
    assert any('rpc_grpc_status_code="NOT_FOUND"' in line for line in requests), requests
    assert series(body, "paycore_rpc_duration_seconds_bucket")
    assert 'service_name="paycore"' in body  # target_info carries the resource


async def test_latency_histograms_use_buckets_in_seconds() -> None:
    async with started(ANY_PORT) as runtime:
        runtime.telemetry.rpc_finished("GetPayment", "OK", 0.03)

        _, _, body = await get(runtime, "/metrics")

    buckets = series(body, "paycore_rpc_duration_seconds_bucket")
    below = next(line for line in buckets if 'le="0.025"' in line)
    above = next(line for line in buckets if 'le="0.05"' in line)
    assert below.endswith(" 0.0") and above.endswith(" 1.0")


async def test_healthz_answers_ok() -> None:
    async with started(ANY_PORT) as runtime:
        assert await get(runtime, "/healthz") == (200, "text/plain; charset=utf-8", "ok")


async def test_two_runtimes_in_one_process_keep_their_metrics_apart() -> None:
    async with started(ANY_PORT) as first, started(ANY_PORT) as second:
        first.telemetry.rpc_finished("CapturePayment", "OK", 0.01)

        _, _, first_body = await get(first, "/metrics")
        _, _, second_body = await get(second, "/metrics")

    assert first.http.port != second.http.port
    assert series(first_body, "paycore_rpc_duration_seconds_count")
    assert not series(second_body, "paycore_rpc_duration_seconds_count")


async def test_none_exporters_record_nothing_and_serve_no_metrics() -> None:
    settings = ANY_PORT.replace(trace_exporter="none", metrics_exporter="none")
    async with started(settings) as runtime:
        telemetry = runtime.telemetry
        telemetry.rpc_finished("GetPayment", "OK", 0.01)  # a no-op, not an error

        assert isinstance(telemetry.tracer_provider, trace.NoOpTracerProvider)
        assert isinstance(telemetry.meter_provider, metrics.NoOpMeterProvider)
        assert runtime.registry is None
        assert (await get(runtime, "/metrics"))[0] == 404
        assert (await get(runtime, "/healthz"))[0] == 200


async def test_console_exporters_build_sdk_providers_with_the_service_resource() -> None:
    settings = ANY_PORT.replace(
        trace_exporter="console", metrics_exporter="console", service_name="paycore-eu"
    )
    runtime = build_telemetry(settings)
    try:
        tracer_provider = runtime.telemetry.tracer_provider
        assert isinstance(tracer_provider, TracerProvider)
        assert isinstance(runtime.telemetry.meter_provider, MeterProvider)
        attributes = tracer_provider.resource.attributes
        assert attributes["service.name"] == "paycore-eu"
        assert str(attributes["service.instance.id"]).endswith(f":{os.getpid()}")
        assert "ParentBased" in tracer_provider.sampler.get_description()
    finally:
        await runtime.close()


class FakeCollector(
    trace_service_pb2_grpc.TraceServiceServicer, metrics_service_pb2_grpc.MetricsServiceServicer
):
    """An OTLP/gRPC receiver that keeps what it is sent."""

    def __init__(self) -> None:
        self.spans: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = []

    def Export(self, request, context):  # one method name serves both services
        if isinstance(request, trace_service_pb2.ExportTraceServiceRequest):
            self.spans.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()
        self.metrics.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def collector() -> Iterator[tuple[FakeCollector, str]]:
    """A fake collector on a free port, and its endpoint URL."""
    received = FakeCollector()
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(received, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(received, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield received, f"http://127.0.0.1:{port}"
    server.stop(grace=None)


async def test_otlp_exporters_send_spans_and_metrics_to_the_collector_when_closing(
    collector: tuple[FakeCollector, str],
) -> None:
    received, endpoint = collector
    settings = ANY_PORT.replace(
        trace_exporter="otlp", metrics_exporter="otlp", otlp_endpoint=endpoint
    )
    runtime = build_telemetry(settings)
    with runtime.telemetry.tracer.start_as_current_span("x", context=extract(SAMPLED_PARENT)):
        runtime.telemetry.rpc_finished("RefundPayment", "OK", 0.01)

    await runtime.close()  # flushes both

    spans = [
        span
        for request in received.spans
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    assert [span.name for span in spans] == ["x"]
    names = {
        metric.name
        for request in received.metrics
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
    }
    assert "paycore.rpc.duration" in names


async def test_otlp_exporters_build_without_a_collector_running() -> None:
    settings = ANY_PORT.replace(trace_exporter="otlp", metrics_exporter="none")
    runtime = build_telemetry(settings)
    try:
        assert isinstance(runtime.telemetry.tracer_provider, TracerProvider)
    finally:
        await runtime.close()  # nothing was recorded, so nothing waits for the collector


async def test_sampling_follows_the_callers_traceparent_whatever_the_ratio() -> None:
    runtime = build_telemetry(ANY_PORT.replace(trace_exporter="console", trace_sample_ratio=0.0))
    try:
        tracer = runtime.telemetry.tracer
        with tracer.start_as_current_span("root") as root:
            assert not root.is_recording()  # ratio 0: paycore starts no sampled trace
        with tracer.start_as_current_span("child", context=extract(SAMPLED_PARENT)) as child:
            assert child.is_recording()
            assert child.get_span_context().trace_id == 0x0AF7651916CD43DD8448EB211C80319C
        with tracer.start_as_current_span("child", context=extract(UNSAMPLED_PARENT)) as child:
            assert not child.is_recording()
    finally:
        await runtime.close()


async def test_ratio_one_samples_every_new_trace() -> None:
    runtime = build_telemetry(ANY_PORT.replace(trace_exporter="console", trace_sample_ratio=1.0))
    try:
        with runtime.telemetry.tracer.start_as_current_span("root") as root:
            assert root.is_recording()
    finally:
        await runtime.close()


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("PAYCORE_TRACE_SAMPLE_RATIO", "1.5", "trace_sample_ratio"),
        ("PAYCORE_TRACE_SAMPLE_RATIO", "nan", "trace_sample_ratio"),
        ("PAYCORE_TRACE_EXPORTER", "zipkin", "trace_exporter"),
        ("PAYCORE_METRICS_EXPORTER", "statsd", "metrics_exporter"),
        ("PAYCORE_OTLP_ENDPOINT", "collector:4317", "otlp_endpoint"),
        ("PAYCORE_HTTP_PORT", "65535", "http_port"),  # with 2 workers the second is past 65535
        ("PAYCORE_HTTP_PORT", "50050", "http_port"),  # workers 0 and 1 would take gRPC's 50051
        ("PAYCORE_SERVICE_NAME", " ", "service_name"),
    ],
)
def test_invalid_telemetry_settings_are_refused_naming_the_field(
    variable: str, value: str, field: str
) -> None:
    with pytest.raises(ConfigError, match=field):
        load_settings(environ={variable: value, "PAYCORE_WORKERS": "2"})


@pytest.mark.parametrize(
    "changes", [{"trace_sample_ratio": 1.5}, {"trace_exporter": "zipkin"}], ids=str
)
def test_build_telemetry_refuses_settings_that_were_never_validated(
    changes: dict[str, object],
) -> None:
    with pytest.raises(ConfigError, match=next(iter(changes))):
        build_telemetry(Settings().replace(**changes))


async def test_worker_index_shifts_the_http_port() -> None:
    # A port the OS just handed out and released is free; worker 1 of a
    # configuration starting one below it must land exactly there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free: int = probe.getsockname()[1]

    async with started(Settings(http_port=free - 1), worker_index=1) as runtime:
        assert runtime.http.port == free
        assert (await get(runtime, "/healthz"))[0] == 200


async def test_http_port_zero_gives_every_worker_any_free_port() -> None:
    async with started(ANY_PORT, worker_index=3) as runtime:
        assert runtime.http.port not in {0, 3}


def test_defaults_need_no_collector() -> None:
    settings = Settings()
    assert (settings.trace_exporter, settings.metrics_exporter) == ("none", "prometheus")
    assert settings.http_port == 9464
