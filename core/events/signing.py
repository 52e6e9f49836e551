"""The ``Paycore-Signature`` header of a webhook POST (pure).

``v1`` is the hex HMAC-SHA256 of ``"{t}.{body}"`` keyed by an endpoint secret;
merchants check it with ``paycore.client.verify_webhook_signature``, and
tests/events/test_signature.py keeps the signer and that verifier in agreement.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def signature_header(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex>`` with one ``v1`` per secret (two during a rotation overlap)."""
    if not secrets:
        raise ValueError("a webhook is signed with at least one secret")
    signed = f"{timestamp}.".encode() + body
    signatures = ",".join(
        f"v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}" for secret in secrets
    )
    return f"t={timestamp},{signatures}"
