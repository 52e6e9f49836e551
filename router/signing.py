"""Signatures of channel messages, with a timestamp against replays. Pure.

Two schemes, chosen per channel, over the same signed text ``"<t>." + body``:

- HMAC-SHA256 under a shared secret (like Stripe's):
  ``X-Signature: t=<unix seconds>,v1=<hex HMAC>``;
- RSA PKCS#1 v1.5 with SHA-256, signed with the channel's private key and
  verified with its public key (like banks' notification services):
  ``X-Signature: t=<unix seconds>,rsa=<base64 signature>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from router.channel import BadSignature

SIGNATURE_HEADER = "X-Signature"


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, _signed_text(body, timestamp), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(
    secret: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: float
) -> None:
    """Raise BadSignature unless ``body`` has a valid HMAC signature at most ``tolerance_s`` old."""
    timestamp, given = _signature(headers, "v1")
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    # As bytes: compare_digest raises TypeError for text with non-ASCII characters,
    # and a header holds whatever the sender put there.
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode()):
        raise BadSignature("signature does not match")
    _fresh(timestamp, now, tolerance_s)


def sign_rsa(key: RSAPrivateKey, body: bytes, timestamp: int) -> str:
    """The RSA signature header value for ``body`` sent at ``timestamp``."""
    signature = key.sign(_signed_text(body, timestamp), padding.PKCS1v15(), hashes.SHA256())
    return f"t={timestamp},rsa={base64.b64encode(signature).decode()}"


def verify_rsa(
    key: RSAPublicKey, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: float
) -> None:
    """Raise BadSignature unless ``body`` carries a valid, fresh RSA signature by ``key``."""
    timestamp, given = _signature(headers, "rsa")
    try:
        signature = base64.b64decode(given, validate=True)
        key.verify(signature, _signed_text(body, timestamp), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error):
        raise BadSignature("signature does not match") from None
    _fresh(timestamp, now, tolerance_s)


def _signed_text(body: bytes, timestamp: int) -> bytes:
    return f"{timestamp}.".encode() + body


def _signature(headers: Mapping[str, str], scheme: str) -> tuple[int, str]:
    """(timestamp, signature) of the header; header names are case-insensitive (HTTP)."""
    value = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    parts = dict(part.split("=", 1) for part in value.split(",") if "=" in part)
    try:
        return int(parts["t"]), parts[scheme]
    except (KeyError, ValueError):
        raise BadSignature("missing or malformed signature header") from None


def _fresh(timestamp: int, now: float, tolerance_s: float) -> None:
    if abs(now - timestamp) > tolerance_s:
        raise BadSignature(f"signature timestamp {timestamp} is stale")
