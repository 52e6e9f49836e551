"""The vault's key-encryption keys (KEKs), from configuration.

Settings ``vault_keys`` lists ``"<key_id>:<base64 of 32 bytes>"`` entries and
``vault_active_key_id`` names the one new cards are sealed under; the others
stay readable so that ``paycore vault rotate`` can move their cards to the
active key. With no keys configured, a fixed development key ``dev`` is used
and a warning is logged: cards sealed under it are protected by nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from core.vault.envelope import KEY_BYTES

log = logging.getLogger(__name__)

DEV_KEY_ID = "dev"
DEV_KEK = hashlib.sha256(b"paycore-dev-vault-key-change-me").digest()
"""Public by construction (it is in the source): for development and tests only."""

_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")

_warned_dev_key = False


class KeyringError(ValueError):
    """The configured vault keys are unusable (the message names the entry, never the key)."""


class UnknownKeyError(LookupError):
    """A stored card names a key id that is not configured (a retired key still in use)."""


def parse_keys(entries: Iterable[str]) -> dict[str, bytes]:
    """``{key_id: kek}`` from ``"<key_id>:<base64>"`` entries; KeyringError if one is malformed."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(entries):
        key_id, separator, encoded = entry.partition(":")
        where = f"vault_keys[{position}]"
        if not separator or not _KEY_ID.fullmatch(key_id):
            raise KeyringError(
                f"{where}: expected '<key_id>:<base64 key>' with a key id of 1 to 64 "
                "letters, digits, '_', '.' or '-'"
            )
        try:
            kek = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError(f"{where} ({key_id}): the key is not valid base64") from None
        if len(kek) != KEY_BYTES:
            raise KeyringError(
                f"{where} ({key_id}): the key must be {KEY_BYTES} bytes, not {len(kek)}"
            )
        if key_id in keys:
            raise KeyringError(f"{where}: key id {key_id!r} appears twice")
        keys[key_id] = kek
    return keys


def parse_config(entries: Iterable[str], active_id: str) -> dict[str, bytes]:
    """The configured keys, checked together with the active id; {} when neither is set."""
    keys = parse_keys(entries)
    if not keys and active_id:
        raise KeyringError("vault_active_key_id is set but vault_keys is empty")
    if keys and active_id not in keys:
        raise KeyringError(
            f"vault_active_key_id {active_id!r} must name one of vault_keys ({sorted(keys)})"
        )
    return keys


@dataclass(frozen=True, slots=True)
class Keyring:
    """Every usable KEK by id, and the id of the one that seals new cards."""

    keys: Mapping[str, bytes]
    active_id: str

    def __repr__(self) -> str:
        return f"Keyring(ids={sorted(self.keys)}, active_id={self.active_id!r})"

    @classmethod
    def from_config(cls, entries: Iterable[str], active_id: str) -> Keyring:
        """The keyring of ``vault_keys`` / ``vault_active_key_id``; the dev key when both are empty.

        KeyringError when the entries are malformed, or when the active id is
        missing or names no configured key.
        """
        keys = parse_config(entries, active_id)
        if not keys:
            _warn_dev_key()
            return cls(MappingProxyType({DEV_KEY_ID: DEV_KEK}), DEV_KEY_ID)
        return cls(MappingProxyType(keys), active_id)

    @property
    def active_kek(self) -> bytes:
        """The KEK new cards are sealed under."""
        return self.keys[self.active_id]

    def kek(self, key_id: str) -> bytes:
        """The KEK called ``key_id``; UnknownKeyError when it is not configured."""
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownKeyError(
                f"vault key {key_id!r} is not configured; add it to vault_keys to read its cards"
            ) from None


def _warn_dev_key() -> None:
    global _warned_dev_key  # noqa: PLW0603  # once per process is the point
    if not _warned_dev_key:
        _warned_dev_key = True
        log.warning(
            "vault_keys is not set: cards are sealed under the public development key %r; "
            "configure vault_keys and vault_active_key_id in production",
            DEV_KEY_ID,
        )
