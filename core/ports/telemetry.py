"""What the application records about its work, and the names it records it under.

``Instruments`` is the port: spans for the stages of a request and the few events the
application counts (a repeated request_id, a risk decision, a channel call).
core.telemetry.Telemetry implements it on OpenTelemetry; ``NO_INSTRUMENTS`` records
nothing (the default of a service built without telemetry, as in tests). The attribute
keys are the spans' and metrics' vocabulary, shared by the application and the adapters.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from opentelemetry import trace

# Attribute keys (OpenTelemetry semantic conventions where one exists).
MERCHANT = "paycore.merchant_id"
REQUEST_ID = "paycore.request_id"
PAYMENT_ID = "paycore.payment_id"
DECISION = "paycore.risk.decision"
SCORE = "paycore.risk.score"
CHANNEL = "paycore.channel"
OPERATION = "paycore.channel.operation"
OUTCOME = "paycore.channel.outcome"
ATTEMPT_ID = "paycore.attempt_id"
ADMISSION = "paycore.gate.admission"
RPC_METHOD = "rpc.method"
RPC_SERVICE = "rpc.service"
GRPC_STATUS = "rpc.grpc.status_code"
ERROR_REASON = "paycore.error.reason"
BREAKER_STATE = "paycore.channel.breaker_state"
DECLINE_REASON = "paycore.decline.reason"
WEBHOOK_RESULT = "paycore.webhook.result"
DISPUTE_KIND = "paycore.dispute.kind"
DISPUTE_REASON = "paycore.dispute.reason"
DISPUTE_OUTCOME = "paycore.dispute.outcome"


class NoSpan(AbstractContextManager[trace.Span]):
    """What a stage is when nothing would be recorded: the invalid span, no context change.

    One shared instance (``NO_SPAN``): with tracing off, or inside an unsampled trace, a
    stage costs one method call instead of a span, a context attach and a generator.
    """

    __slots__ = ()

    def __enter__(self) -> trace.Span:
        return trace.INVALID_SPAN

    def __exit__(self, *exc_info: object) -> None:
        return None


NO_SPAN = NoSpan()


class Instruments(Protocol):
    """Spans and counts of the application's work."""

    def stage(self, name: str, **attributes: str | int) -> AbstractContextManager[trace.Span]:
        """A child span for one stage of a request (gate, risk, route, db.*, channel.*)."""
        ...

    def risk_assessed(self, decision: str, score: int) -> None:
        """The risk engine decided."""
        ...

    def channel_called(
        self, channel: str, operation: str, outcome: str, duration_s: float, reason: str = ""
    ) -> None:
        """One channel attempt ended."""
        ...

    def request_repeated(self, answer: str) -> None:
        """A request_id was seen again: replay, conflict, in_progress or resumed."""
        ...

    def dispute_changed(self, kind: str, reason: str, outcome: str) -> None:
        """A dispute was opened (``opened``) or closed (``won``, ``lost``, ``closed``)."""
        ...


class _NoInstruments:
    """Records nothing."""

    __slots__ = ()

    def stage(self, name: str, **attributes: str | int) -> AbstractContextManager[trace.Span]:
        return NO_SPAN

    def risk_assessed(self, decision: str, score: int) -> None:
        return None

    def channel_called(
        self, channel: str, operation: str, outcome: str, duration_s: float, reason: str = ""
    ) -> None:
        return None

    def request_repeated(self, answer: str) -> None:
        return None

    def dispute_changed(self, kind: str, reason: str, outcome: str) -> None:
        return None


NO_INSTRUMENTS: Instruments = _NoInstruments()
"""Instruments that record nothing."""
