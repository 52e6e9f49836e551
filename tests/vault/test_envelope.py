"""Envelope encryption: round trip, tamper detection, re-wrapping under a new key."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from core.vault.envelope import EnvelopeError, Sealed, open_sealed, rewrap, seal

KEK_1 = os.urandom(32)
KEK_2 = os.urandom(32)
AAD = b"merchant-a/tok_1"
PLAINTEXT = b'{"number":"4242424242424242"}'


def test_sealed_record_opens_to_its_plaintext_under_its_key_and_aad() -> None:
    sealed = seal(PLAINTEXT, "k1", KEK_1, AAD)

    assert sealed.key_id == "k1"
    assert PLAINTEXT not in sealed.ciphertext
    assert open_sealed(sealed, KEK_1, AAD) == PLAINTEXT


def test_every_record_gets_its_own_data_key_and_nonces() -> None:
    first, second = seal(PLAINTEXT, "k1", KEK_1, AAD), seal(PLAINTEXT, "k1", KEK_1, AAD)

    assert first.wrapped_dek != second.wrapped_dek
    assert first.ciphertext != second.ciphertext
    assert first.nonce != second.nonce


def _flip(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


@pytest.mark.parametrize("field", ["wrapped_dek", "dek_nonce", "nonce", "ciphertext"])
def test_a_flipped_byte_anywhere_does_not_open(field: str) -> None:
    sealed = seal(PLAINTEXT, "k1", KEK_1, AAD)
    changes: dict[str, Any] = {field: _flip(getattr(sealed, field))}
    tampered = dataclasses.replace(sealed, **changes)

    with pytest.raises(EnvelopeError):
        open_sealed(tampered, KEK_1, AAD)


def test_a_record_moved_to_another_row_does_not_open() -> None:
    sealed = seal(PLAINTEXT, "k1", KEK_1, AAD)

    with pytest.raises(EnvelopeError):
        open_sealed(sealed, KEK_1, b"merchant-b/tok_1")


def test_the_wrong_key_does_not_open() -> None:
    sealed = seal(PLAINTEXT, "k1", KEK_1, AAD)

    with pytest.raises(EnvelopeError):
        open_sealed(sealed, KEK_2, AAD)


def test_a_relabelled_key_id_does_not_open() -> None:
    sealed = seal(PLAINTEXT, "k1", KEK_1, AAD)

    with pytest.raises(EnvelopeError):
        open_sealed(dataclasses.replace(sealed, key_id="k2"), KEK_1, AAD)


def test_rewrap_changes_the_key_and_keeps_the_plaintext_and_ciphertext() -> None:
    sealed = seal(PLAINTEXT, "k1", KEK_1, AAD)

    moved = rewrap(sealed, KEK_1, "k2", KEK_2)

    assert moved.key_id == "k2"
    assert moved.ciphertext == sealed.ciphertext
    assert moved.wrapped_dek != sealed.wrapped_dek
    assert open_sealed(moved, KEK_2, AAD) == PLAINTEXT
    with pytest.raises(EnvelopeError):
        open_sealed(moved, KEK_1, AAD)


def test_rewrap_with_the_wrong_old_key_fails() -> None:
    with pytest.raises(EnvelopeError):
        rewrap(seal(PLAINTEXT, "k1", KEK_1, AAD), KEK_2, "k2", KEK_2)


def test_keys_must_be_256_bits() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal(PLAINTEXT, "k1", b"short", AAD)


def test_repr_shows_no_key_material() -> None:
    sealed: Sealed = seal(PLAINTEXT, "k1", KEK_1, AAD)

    assert sealed.wrapped_dek.hex() not in repr(sealed)
