"""The ``Paycore-Signature`` header of a webhook POST (pure).

The MAC itself is ``paycore.client.webhooks.compute_signature``: the one
definition the server signs with and merchants verify with, so the two cannot
drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from paycore.client.webhooks import compute_signature


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex>`` with one ``v1`` per secret (two during a rotation overlap)."""
    if not secrets:
        raise ValueError("a webhook is signed with at least one secret")
    signatures = ",".join(f"v1={compute_signature(s, timestamp, body)}" for s in secrets)
    return f"t={timestamp},{signatures}"
