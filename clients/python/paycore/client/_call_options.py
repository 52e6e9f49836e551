"""What every call of a client carries: the caller's API key, deadline and retry policy.

The caller's identity is turned into call metadata here and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._retry import RetryPolicy

AUTHORIZATION_KEY = "authorization"
MERCHANT_ID_KEY = "x-paycore-merchant-id"
_MERCHANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_API_KEY = re.compile(r"\S{1,200}")


@dataclass(frozen=True, slots=True)
class CallOptions:
    """The settings a client applies to each call; built once by the client."""

    metadata: tuple[tuple[str, str], ...]
    """gRPC metadata sent with every attempt: the caller's API key (and merchant)."""
    timeout: float
    """Deadline of each attempt, in seconds."""
    retry: RetryPolicy

    @classmethod
    def build(
        cls, *, api_key: str, merchant_id: str | None, timeout: float, retry: RetryPolicy
    ) -> CallOptions:
        """Validate a client's settings; raises ValueError naming the bad one."""
        # Checked here rather than left to the server, whose UNAUTHENTICATED
        # would only surface on the first call, far from the mistake.
        if not _API_KEY.fullmatch(api_key):
            raise ValueError("api_key must be the key paycore issued (no spaces)")
        metadata = [(AUTHORIZATION_KEY, f"Bearer {api_key}")]
        if merchant_id is not None:
            if not _MERCHANT_ID.fullmatch(merchant_id):
                raise ValueError("merchant_id must be 1 to 64 letters, digits, '_' or '-'")
            metadata.append((MERCHANT_ID_KEY, merchant_id))
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        return cls(metadata=tuple(metadata), timeout=timeout, retry=retry)
