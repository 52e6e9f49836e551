"""What every call of a client carries: the caller's identity, deadline and retry policy.

The caller's identity is turned into call metadata here and nowhere else, so
replacing the merchant id with an API key later changes this module only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._retry import RetryPolicy

MERCHANT_ID_KEY = "x-paycore-merchant-id"
_MERCHANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class CallOptions:
    """The settings a client applies to each call; built once by the client."""

    metadata: tuple[tuple[str, str], ...]
    """gRPC metadata sent with every attempt: the caller's identity."""
    timeout: float
    """Deadline of each attempt, in seconds."""
    retry: RetryPolicy

    @classmethod
    def build(cls, *, merchant_id: str, timeout: float, retry: RetryPolicy) -> CallOptions:
        """Validate a client's settings; raises ValueError naming the bad one."""
        # Checked here rather than left to the server, whose UNAUTHENTICATED
        # would only surface on the first call, far from the mistake.
        if not _MERCHANT_ID.fullmatch(merchant_id):
            raise ValueError("merchant_id must be 1 to 64 letters, digits, '_' or '-'")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        return cls(metadata=((MERCHANT_ID_KEY, merchant_id),), timeout=timeout, retry=retry)
