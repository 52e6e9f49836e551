"""Observability: OpenTelemetry traces and metrics, and the context logs share with them."""

from core.telemetry.instruments import Telemetry

__all__ = ["Telemetry"]
