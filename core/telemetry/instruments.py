"""Every span name and metric instrument paycore emits, in one place.

Components receive a ``Telemetry`` and call it; nothing else creates
instruments. With the default ``Telemetry.disabled()`` every call is a no-op
of the OpenTelemetry API, so code paths are identical with telemetry off.

Span tree of one mutating RPC::

    paycore.v1.PaymentService/CreatePayment   (SERVER; continues a W3C traceparent)
    ├── auth
    ├── gate                                   (rate limit + request_id marker, Redis)
    ├── db.claim                               (transaction 1)
    │   ├── risk                               (score, decision)
    │   └── route                              (channel chosen)
    ├── channel.authorize                      (one per channel attempt)
    └── db.commit                              (transaction 2)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from opentelemetry import metrics, propagate, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes

from core.domain.errors import Code, PaycoreError
from core.ports.telemetry import (
    BREAKER_STATE,
    CHANNEL,
    DECISION,
    DECLINE_REASON,
    DISPUTE_KIND,
    DISPUTE_OUTCOME,
    DISPUTE_REASON,
    ERROR_REASON,
    GRPC_STATUS,
    NO_SPAN,
    OPERATION,
    OUTCOME,
    RPC_METHOD,
    WEBHOOK_RESULT,
)

SCOPE = "paycore"

access_log = logging.getLogger("paycore.access")
"""One INFO line per RPC served (``Telemetry.rpc_finished``): the access log."""

TRACEPARENT = "traceparent"


@dataclass(frozen=True, slots=True)
class _Instruments:
    rpc_duration: metrics.Histogram
    risk_decisions: metrics.Counter
    risk_score: metrics.Histogram
    channel_attempts: metrics.Counter
    channel_duration: metrics.Histogram
    idempotency: metrics.Counter
    rate_limited: metrics.Counter
    gate_fail_open: metrics.Counter
    declines: metrics.Counter
    webhook_attempts: metrics.Counter
    webhook_duration: metrics.Histogram
    outbox_lag: metrics.Histogram
    disputes: metrics.Counter


def _instruments(meter: metrics.Meter) -> _Instruments:
    return _Instruments(
        # One histogram per RPC: its count is the request count (no separate counter).
        rpc_duration=meter.create_histogram(
            "paycore.rpc.duration", unit="s", description="RPC latency by method and status code"
        ),
        risk_decisions=meter.create_counter(
            "paycore.risk.decisions", unit="{decision}", description="Risk decisions by outcome"
        ),
        risk_score=meter.create_histogram(
            "paycore.risk.score", unit="1", description="Distribution of risk scores (0-100)"
        ),
        channel_attempts=meter.create_counter(
            "paycore.channel.attempts",
            unit="{attempt}",
            description="Channel calls by channel, operation and outcome",
        ),
        channel_duration=meter.create_histogram(
            "paycore.channel.duration", unit="s", description="Channel call latency"
        ),
        idempotency=meter.create_counter(
            "paycore.idempotency.repeats",
            unit="{request}",
            description="Repeated request_ids by how they were answered",
        ),
        rate_limited=meter.create_counter(
            "paycore.ratelimit.rejections", unit="{request}", description="Requests over a limit"
        ),
        gate_fail_open=meter.create_counter(
            "paycore.ratelimit.fail_open",
            unit="{request}",
            description="Requests decided without Redis (local limiter, PostgreSQL idempotency)",
        ),
        declines=meter.create_counter(
            "paycore.declines",
            unit="{decline}",
            description="Declines by reason: the channel's failure code, or risk_declined",
        ),
        webhook_attempts=meter.create_counter(
            "paycore.webhook.attempts",
            unit="{attempt}",
            description="Webhook POSTs by result: delivered, retry (failed, retried later), dead",
        ),
        webhook_duration=meter.create_histogram(
            "paycore.webhook.duration", unit="s", description="Webhook POST latency"
        ),
        outbox_lag=meter.create_histogram(
            "paycore.outbox.lag",
            unit="s",
            description="From an event's commit to the start of its first webhook POST",
        ),
        # No merchant attribute (cardinality): a merchant's rate is DisputeService.GetDisputeRate.
        disputes=meter.create_counter(
            "paycore.disputes",
            unit="{dispute}",
            description="Disputes opened and closed, by kind, reason and outcome",
        ),
    )


class Telemetry:
    """The tracer and the metric instruments of one paycore process."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider or trace.NoOpTracerProvider()
        self.meter_provider = meter_provider or metrics.NoOpMeterProvider()
        self.tracer = self.tracer_provider.get_tracer(SCOPE)
        self.meter = self.meter_provider.get_meter(SCOPE)
        self._m = _instruments(self.meter)
        self.tracing = not isinstance(self.tracer_provider, trace.NoOpTracerProvider)
        """False: every span is the API's no-op, so none is started at all."""
        self._metering = not isinstance(self.meter_provider, metrics.NoOpMeterProvider)
        # Metric attributes by their values, built once: hot paths record with a lookup.
        self._attributes: dict[tuple[str, ...], Attributes] = {}
        self._pools: list[tuple[str, Callable[[], tuple[int, int, int]]]] = []

    @classmethod
    def disabled(cls) -> Telemetry:
        """Telemetry that records nothing (the API's no-op implementations)."""
        return cls()

    # --- traces ---------------------------------------------------------------

    def rpc_span(
        self, name: str, metadata: Sequence[tuple[str, str | bytes]], attributes: Attributes
    ) -> AbstractContextManager[trace.Span]:
        """The SERVER span of one RPC, continuing the caller's W3C traceparent from ``metadata``.

        With tracing off and no traceparent sent, nothing is extracted or started.
        A traceparent is still followed with tracing off, so log lines carry the
        caller's trace id. Status and exceptions are left to the caller to record.
        """
        if not self.tracing and all(key != TRACEPARENT for key, _ in metadata):
            return NO_SPAN
        parent = propagate.extract(
            {key: value for key, value in metadata if isinstance(value, str)}
        )
        return self.tracer.start_as_current_span(
            name,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )

    def stage(self, name: str, **attributes: str | int) -> AbstractContextManager[trace.Span]:
        """A child span for one stage of a request (auth, gate, risk, route, db.*, channel.*).

        A stage that ends in a paycore error keeps its reason as an attribute;
        only faults (bugs, unavailable dependencies) mark the span as an error,
        so a trace search for errors finds incidents, not declined requests.
        No span is made with tracing off, nor inside a trace that is not sampled
        (its children would not be either: the sampler is parent-based).
        """
        if not self.tracing:
            return NO_SPAN
        current = trace.get_current_span()
        if not current.is_recording() and current.get_span_context().is_valid:
            return NO_SPAN
        return self._stage(name, attributes)

    @contextmanager
    def _stage(self, name: str, attributes: Attributes) -> Iterator[trace.Span]:
        with self.tracer.start_as_current_span(
            name, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except PaycoreError as error:
                span.set_attribute(ERROR_REASON, error.reason.name)
                if error.code in (Code.INTERNAL, Code.UNAVAILABLE):
                    span.set_status(Status(StatusCode.ERROR, error.reason.name))
                raise
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise

    # --- metrics --------------------------------------------------------------

    def _cached(self, *pairs: str) -> Attributes:
        """``{pairs[0]: pairs[1], ...}``, built on first use and shared after."""
        attributes = self._attributes.get(pairs)
        if attributes is None:
            attributes = dict(zip(pairs[::2], pairs[1::2], strict=True))
            if len(self._attributes) < 10_000:  # bounded: values come from closed sets
                self._attributes[pairs] = attributes
        return attributes

    def rpc_finished(self, method: str, code: str, duration_s: float, service: str = "") -> None:
        """One RPC of ``service`` ended with a gRPC status code name (OK, INVALID_ARGUMENT...).

        Timed (the histogram's count is the request count), and written to the
        access log (logger ``paycore.access``) with ``grpc_method``
        (``/paycore.v1.PaymentService/CreatePayment``), ``grpc_code`` and
        ``duration_ms``; the log handler adds the merchant, request_id and
        trace_id of the RPC, so this must run inside its span.
        """
        if self._metering:
            self._m.rpc_duration.record(
                duration_s, self._cached(RPC_METHOD, method, GRPC_STATUS, code)
            )
        if access_log.isEnabledFor(logging.INFO):
            full_method = f"/{service}/{method}" if service else method
            duration_ms = round(duration_s * 1000, 3)
            access_log.info(
                "%s %s %.1f ms",
                full_method,
                code,
                duration_ms,
                extra={"grpc_method": full_method, "grpc_code": code, "duration_ms": duration_ms},
            )

    def risk_assessed(self, decision: str, score: int) -> None:
        """The risk engine decided (a ``decline`` is also a decline, reason risk_declined)."""
        if self._metering:
            attributes = self._cached(DECISION, decision)
            self._m.risk_decisions.add(1, attributes)
            self._m.risk_score.record(score, attributes)
            if decision == "decline":
                self._m.declines.add(
                    1, self._cached(DECLINE_REASON, "risk_declined", OPERATION, "authorize")
                )

    def channel_called(
        self, channel: str, operation: str, outcome: str, duration_s: float, reason: str = ""
    ) -> None:
        """One channel attempt ended; a ``declined`` one is a decline for ``reason`` too."""
        if self._metering:
            attributes = self._cached(CHANNEL, channel, OPERATION, operation, OUTCOME, outcome)
            self._m.channel_attempts.add(1, attributes)
            self._m.channel_duration.record(duration_s, attributes)
            if outcome == "declined":
                self._m.declines.add(
                    1, self._cached(DECLINE_REASON, reason or "declined", OPERATION, operation)
                )

    def request_repeated(self, answer: str) -> None:
        """A request_id was seen again: answer is replay, conflict, in_progress or resumed."""
        self._m.idempotency.add(1, {"paycore.idempotency.answer": answer})

    def rate_limited(self, rpc_class: str) -> None:
        """A request was refused by the rate limiter."""
        self._m.rate_limited.add(1, {"paycore.ratelimit.class": rpc_class})

    def gate_failed_open(self) -> None:
        """A request was decided without Redis."""
        self._m.gate_fail_open.add(1)

    def webhook_attempted(self, result: str, duration_s: float) -> None:
        """One webhook POST ended: ``delivered``, ``retry`` (to be sent again) or ``dead``."""
        self._m.webhook_attempts.add(1, {WEBHOOK_RESULT: result})
        self._m.webhook_duration.record(duration_s, {WEBHOOK_RESULT: result})

    def outbox_lagged(self, lag_s: float) -> None:
        """An event's first webhook POST starts ``lag_s`` after the event was committed."""
        self._m.outbox_lag.record(max(lag_s, 0.0))

    def dispute_changed(self, kind: str, reason: str, outcome: str) -> None:
        """A dispute was opened (``opened``) or closed (``won``, ``lost``, ``closed``);
        ``reason`` is from a closed set (``core.domain.dispute_rate.metric_reason``)."""
        self._m.disputes.add(
            1, self._cached(DISPUTE_KIND, kind, DISPUTE_REASON, reason, DISPUTE_OUTCOME, outcome)
        )

    def observe_breakers(
        self, states: Sequence[str], sample: Callable[[], Mapping[str, str]]
    ) -> None:
        """Export each channel's circuit breaker state: 1 for its state, 0 for the others.

        ``sample`` returns the state (one of ``states``) by channel name. One
        series per channel and state, so a panel can sum or graph any of them.
        """

        def observe(_: CallbackOptions) -> Iterable[Observation]:
            for channel, current in sample().items():
                for state in states:
                    value = 1 if state == current else 0
                    yield Observation(value, {CHANNEL: channel, BREAKER_STATE: state})

        self.meter.create_observable_gauge(
            "paycore.channel.breaker",
            callbacks=[observe],
            unit="1",
            description="Circuit breaker state per channel (1 for the current state)",
        )

    def observe_pool(self, name: str, sample: Callable[[], tuple[int, int, int]]) -> None:
        """Export a connection pool's (in use, idle, max) connections as gauges.

        All pools share one instrument (an SDK keeps only the first instrument
        of a name), told apart by the ``paycore.pool`` attribute.
        """
        self._pools.append((name, sample))
        if len(self._pools) > 1:
            return

        def observe(_: CallbackOptions) -> Iterable[Observation]:
            for pool_name, pool_sample in self._pools:
                in_use, idle, maximum = pool_sample()
                pool = {"paycore.pool": pool_name}
                yield Observation(in_use, {**pool, "state": "in_use"})
                yield Observation(idle, {**pool, "state": "idle"})
                yield Observation(maximum, {**pool, "state": "max"})

        self.meter.create_observable_gauge(
            "paycore.pool.connections",
            callbacks=[observe],
            unit="{connection}",
            description="Connections of PostgreSQL and Redis pools by state",
        )
