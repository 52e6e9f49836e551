"""The request gate: per-merchant rate limits and the fast idempotency check (Redis)."""

from core.gate.gate import Admission, GateClaim, RequestGate, Rider
from core.gate.limits import RateLimit, RpcClass

__all__ = ["Admission", "GateClaim", "RateLimit", "RequestGate", "Rider", "RpcClass"]
