"""Envelope encryption of one record with AES-256-GCM. Pure functions, no I/O.

Each record gets a fresh random 256-bit data key (DEK). The record is encrypted
under the DEK; the DEK is encrypted ("wrapped") under a key-encryption key
(KEK) that lives only in configuration. The database holds the wrapped DEK and
the KEK's id, never a usable key, so a database dump alone decrypts nothing.
Rotating a KEK re-encrypts only the 32-byte DEKs (``rewrap``); the records'
ciphertexts stay as they are.

Associated data binds each layer to where it belongs:

- the record's ciphertext to the caller's ``aad`` (the vault uses merchant and
  token id), so a ciphertext copied into another row, or another merchant's
  row, fails to open;
- the wrapped DEK to its key id, so a row cannot claim to be under another
  key than the one that wrapped it.

GCM nonces are 96 random bits. Every DEK encrypts exactly one message and
every wrap uses a fresh random nonce, so nonce reuse under one key would need a
96-bit collision among the KEK's wraps (negligible far beyond 2**32 records).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
"""AES-256: both data keys and key-encryption keys are 32 bytes."""
NONCE_BYTES = 12

_WRAP_CONTEXT = b"paycore.vault.dek/"


class EnvelopeError(Exception):
    """A sealed record does not open: wrong key, wrong associated data, or tampered bytes."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """One encrypted record, as stored: everything but the KEK itself."""

    key_id: str
    """Id of the KEK that wrapped ``wrapped_dek``."""
    wrapped_dek: bytes
    """The data key, AES-GCM-encrypted under the KEK (with its tag)."""
    dek_nonce: bytes
    nonce: bytes
    ciphertext: bytes
    """The record, AES-GCM-encrypted under the data key (with its tag)."""

    def __repr__(self) -> str:
        return f"Sealed(key_id={self.key_id!r}, ciphertext=<{len(self.ciphertext)} bytes>)"


def _check_kek(kek: bytes) -> None:
    if len(kek) != KEY_BYTES:
        raise ValueError(f"a key-encryption key is {KEY_BYTES} bytes, not {len(kek)}")


def _wrap(dek: bytes, key_id: str, kek: bytes) -> tuple[bytes, bytes]:
    _check_kek(kek)
    nonce = os.urandom(NONCE_BYTES)
    return AESGCM(kek).encrypt(nonce, dek, _WRAP_CONTEXT + key_id.encode()), nonce


def _unwrap(sealed: Sealed, kek: bytes) -> bytes:
    _check_kek(kek)
    try:
        return AESGCM(kek).decrypt(
            sealed.dek_nonce, sealed.wrapped_dek, _WRAP_CONTEXT + sealed.key_id.encode()
        )
    except InvalidTag:
        raise EnvelopeError(f"the data key does not open under key {sealed.key_id!r}") from None


def seal(plaintext: bytes, key_id: str, kek: bytes, aad: bytes) -> Sealed:
    """Encrypt ``plaintext`` under a fresh data key, wrapped by ``kek`` (known as ``key_id``)."""
    dek = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, plaintext, aad)
    wrapped, dek_nonce = _wrap(dek, key_id, kek)
    return Sealed(key_id, wrapped, dek_nonce, nonce, ciphertext)


def open_sealed(sealed: Sealed, kek: bytes, aad: bytes) -> bytes:
    """The plaintext of ``sealed``; EnvelopeError unless every byte and ``aad`` are as sealed."""
    dek = _unwrap(sealed, kek)
    try:
        return AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, aad)
    except InvalidTag:
        raise EnvelopeError("the record does not open: tampered, or not this record") from None


def rewrap(sealed: Sealed, kek: bytes, new_key_id: str, new_kek: bytes) -> Sealed:
    """The same record with its data key re-wrapped under ``new_kek``; the ciphertext is kept.

    ``kek`` is the key ``sealed.key_id`` names. The record itself is not
    decrypted, so rotation never holds a card number in memory.
    """
    dek = _unwrap(sealed, kek)
    wrapped, dek_nonce = _wrap(dek, new_key_id, new_kek)
    return Sealed(new_key_id, wrapped, dek_nonce, sealed.nonce, sealed.ciphertext)
