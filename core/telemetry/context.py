"""Per-request context that logs and spans share: which merchant, which request_id.

Set once by the gRPC pipeline for the duration of an RPC (contextvars follow
the asyncio task, including tasks it spawns), read by the log formatter.
"""

from __future__ import annotations

from contextvars import ContextVar

merchant_id: ContextVar[str] = ContextVar("paycore_merchant_id", default="")
request_id: ContextVar[str] = ContextVar("paycore_request_id", default="")
rpc_method: ContextVar[str] = ContextVar("paycore_rpc_method", default="")
