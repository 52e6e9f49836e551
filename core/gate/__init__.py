"""The request gate: per-merchant rate limits and the fast idempotency check.

What the application asks (``RequestGate``) and the rate-limit arithmetic,
pure; the Redis implementation is ``core/redis/request_gate.py``.
"""

from core.gate.gate import Admission, GateClaim, RequestGate, Rider
from core.gate.limits import RateLimit, RpcClass

__all__ = ["Admission", "GateClaim", "RateLimit", "RequestGate", "Rider", "RpcClass"]
