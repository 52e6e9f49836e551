"""HMAC-SHA256 signatures of channel messages, with a timestamp against replays. Pure.

Header format (like Stripe's): ``X-Signature: t=<unix seconds>,v1=<hex HMAC>``,
where the HMAC covers ``"<t>." + body`` under the channel's shared secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from router.channel import BadSignature

SIGNATURE_HEADER = "X-Signature"


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: float
) -> None:
    """Raise BadSignature unless ``body`` carries a valid signature from the last ``tolerance_s``.

    Header names are matched case-insensitively (HTTP semantics).
    """
    value = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    parts = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise BadSignature("missing or malformed signature header") from None
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    if not hmac.compare_digest(given, expected):
        raise BadSignature("signature does not match")
    if abs(now - timestamp) > tolerance_s:
        raise BadSignature(f"signature timestamp {timestamp} is stale")
