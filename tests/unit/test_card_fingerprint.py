"""A card's fingerprint is HMAC-SHA256 of its number under the server key, 32 hex characters."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from core.domain.cards import fingerprint


@pytest.mark.parametrize("key", ["key-one", "key-two", ""])
@pytest.mark.parametrize("number", ["4242424242424242", "5555555555554444", "378282246310005"])
def test_fingerprint_is_the_keyed_hash_of_the_number(number: str, key: str) -> None:
    expected = hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()[:32]
    assert fingerprint(number, key) == expected


def test_fingerprints_under_different_keys_differ() -> None:
    assert fingerprint("4242424242424242", "a") != fingerprint("4242424242424242", "b")
    assert fingerprint("4242424242424242", "a") == fingerprint("4242424242424242", "a")
