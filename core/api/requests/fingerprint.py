"""A request's idempotency fingerprint: what a replay of its request_id must match."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from google.protobuf.message import Message

from core.service.execution import RequestIdentity


def request_fingerprint(request: Message, key: bytes) -> bytes:
    """HMAC-SHA256 of the request without its request_id: equal exactly for equal requests.

    Keyed with a server secret because requests carry card numbers: an
    unkeyed hash stored next to a card's BIN, last four and expiry could be
    brute-forced back into the number in a fraction of a second.
    Deterministic serialization orders map entries, so two equal requests
    always hash the same whatever order their metadata was built in.
    """
    # Cleared on the request itself and put back (no copy of the whole message):
    # a proto3 string without presence serialises the same cleared or empty.
    request_id = request.request_id  # type: ignore[attr-defined]
    request.ClearField("request_id")
    try:
        data = request.SerializeToString(deterministic=True)
    finally:
        request.request_id = request_id  # type: ignore[attr-defined]
    return hmac.new(key, data, hashlib.sha256).digest()


def request_identity(request: Any, key: bytes) -> RequestIdentity:
    """A mutating request's idempotency identity: its request_id and its fingerprint."""
    return RequestIdentity(request.request_id, request_fingerprint(request, key))
