"""Verify that a webhook request really comes from paycore (and is fresh).

paycore signs every webhook POST with each endpoint secret that is valid at
the time (two during a secret rotation's overlap window)::

    Paycore-Signature: t=1767225600,v1=5f2b...e9,v1=0c4d...71
    Paycore-Event-Id: evt_01JD...

``v1`` is the hex HMAC-SHA256, keyed by the endpoint secret, of
``"{t}.{body}"`` (the timestamp, a dot, the raw request body bytes). A request
is genuine when one ``v1`` matches one of your secrets and ``t`` is within the
tolerance of your clock (stale and future timestamps are refused, so a
captured request cannot be replayed later). Deliveries are at least once:
deduplicate by ``Paycore-Event-Id``.

    from paycore.client import verify_webhook_signature, WebhookSignatureError

    try:
        verify_webhook_signature(body, request.headers["Paycore-Signature"], secret)
    except WebhookSignatureError:
        return 400
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

SIGNATURE_HEADER = "Paycore-Signature"
"""The header carrying ``t=<unix seconds>,v1=<hex>[,v1=<hex>]``."""
EVENT_ID_HEADER = "Paycore-Event-Id"
"""The header carrying the event's id: the same on every retry of the event."""
DEFAULT_TOLERANCE_S = 300
"""How far (seconds) a signature's timestamp may be from the receiver's clock."""


class WebhookSignatureError(ValueError):
    """The request is not a fresh, genuine paycore webhook; the message says why."""


def compute_signature(secret: str, timestamp: int, payload: bytes) -> str:
    """The ``v1`` value: hex HMAC-SHA256 of ``"{timestamp}.{payload}"`` keyed by ``secret``."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookSignatureError(f"timestamp {value!r} is not an integer") from None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} has no t=<timestamp>")
    if not signatures:
        raise WebhookSignatureError(f"{SIGNATURE_HEADER} has no v1=<signature>")
    return timestamp, signatures


def verify_webhook_signature(
    payload: bytes,
    header: str,
    secrets: Sequence[str] | str,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a webhook's ``Paycore-Signature`` header; return its timestamp.

    ``payload`` is the raw request body (not re-serialized JSON). ``secrets``
    is your endpoint's secret, or several while you rotate it. Raises
    WebhookSignatureError when the header is malformed, its timestamp is more
    than ``tolerance_s`` seconds in the past or the future of ``now`` (default:
    this machine's clock), or no signature matches any secret.
    """
    if isinstance(secrets, str):
        secrets = [secrets]
    if not secrets:
        raise WebhookSignatureError("no secret to verify with")
    timestamp, signatures = _parse_header(header)
    current = time.time() if now is None else now
    if timestamp < current - tolerance_s:
        raise WebhookSignatureError(
            f"timestamp {timestamp} is {current - timestamp:.0f}s old (tolerance {tolerance_s}s)"
        )
    if timestamp > current + tolerance_s:
        raise WebhookSignatureError(
            f"timestamp {timestamp} is {timestamp - current:.0f}s in the future "
            f"(tolerance {tolerance_s}s)"
        )
    for secret in secrets:
        expected = compute_signature(secret, timestamp, payload)
        # compare_digest on every candidate: no early exit that times the match.
        if any(hmac.compare_digest(expected, given) for given in signatures):
            return timestamp
    raise WebhookSignatureError("no v1 signature matches the secret(s)")
