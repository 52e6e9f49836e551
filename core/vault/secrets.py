"""Short secrets paycore must read back (webhook signing secrets), sealed for storage as text.

Unlike API keys (stored as hashes: paycore only compares them), a signing
secret is needed in clear to sign every delivery, so it is stored sealed
with the same envelope as cards (core/vault/envelope.py): a fresh AES-256-GCM
data key, wrapped by the active vault key, with associated data that binds
the ciphertext to its owner (a sealed secret copied to another endpoint does
not open). The text form is ``sealed1.<key id>.<wrapped dek>.<dek nonce>.<nonce>.<ciphertext>``
in unpadded base64url, so the columns stay ``text``.
"""

from __future__ import annotations

import base64

from core.vault.envelope import EnvelopeError, Sealed, open_sealed, rewrap, seal
from core.vault.keyring import Keyring

PREFIX = "sealed1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _encode(sealed: Sealed) -> str:
    parts = (sealed.key_id.encode(), sealed.wrapped_dek, sealed.dek_nonce, sealed.nonce)
    return ".".join([PREFIX, *(_b64(p) for p in parts), _b64(sealed.ciphertext)])


def _decode(stored: str) -> Sealed:
    parts = stored.split(".")
    if len(parts) != 6 or parts[0] != PREFIX:
        raise EnvelopeError("not a sealed secret")
    key_id, wrapped, dek_nonce, nonce, ciphertext = (_unb64(p) for p in parts[1:])
    return Sealed(key_id.decode(), wrapped, dek_nonce, nonce, ciphertext)


def is_sealed(value: str) -> bool:
    """Whether ``value`` is a sealed secret (as stored), not a secret."""
    return value.startswith(PREFIX + ".")


class SecretSealer:
    """Seals and opens short secrets under the vault keyring."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def seal(self, secret: str, owner: str) -> str:
        """``secret`` sealed for storage, bound to ``owner`` ("" stays "").

        A value that is sealed already (one ``open_or_keep`` could not open) is
        returned as it is, so saving a record never loses a secret.
        """
        if not secret or is_sealed(secret):
            return secret
        keyring = self._keyring
        return _encode(seal(secret.encode(), keyring.active_id, keyring.active_kek, owner.encode()))

    def open(self, stored: str, owner: str) -> str:
        """The secret of a sealed value ("" stays ""); EnvelopeError when it does not open."""
        if not stored:
            return ""
        sealed = _decode(stored)
        return open_sealed(sealed, self._keyring.kek(sealed.key_id), owner.encode()).decode()

    def open_or_keep(self, stored: str, owner: str) -> str:
        """The secret, or the sealed value itself when it does not open (its key is gone).

        For reads that do not need the secret (listing, deleting, changing the
        URL): they keep working, and ``is_sealed`` tells a caller that does
        need it (signing) that it is not there.
        """
        try:
            return self.open(stored, owner)
        except (EnvelopeError, LookupError):
            return stored

    def under_active_key(self, stored: str) -> bool:
        """Whether a stored value is empty or already sealed under the active key."""
        return not stored or _decode(stored).key_id == self._keyring.active_id

    def rewrapped(self, stored: str) -> str:
        """A stored value with its data key re-wrapped under the active key (secret not opened)."""
        if not stored:
            return ""
        sealed = _decode(stored)
        keyring = self._keyring
        return _encode(
            rewrap(sealed, keyring.kek(sealed.key_id), keyring.active_id, keyring.active_kek)
        )
