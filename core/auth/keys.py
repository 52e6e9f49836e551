"""API keys and merchants as values, and the key format (pure: no I/O).

A key looks like ``pck_7QXH2M4KD9RT_<43 characters>``:

- ``pck_7QXH2M4KD9RT`` is the key's **prefix**: public, unique, stored in
  clear and shown everywhere a key is listed, logged or audited, so support
  can talk about a key without ever seeing it;
- the rest is 32 random bytes (base64url) that only the key's holder has.

paycore stores only the SHA-256 of the whole key. The secret part carries 256
bits of entropy, so a fast hash is safe here (a slow password hash protects
low-entropy secrets; a guessing attack on 2^256 keys is not a concern) and
keeps authentication cheap on the hot path. Hashes are compared in constant
time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from core.auth.policy import Role

KEY_SCHEME = "pck"
_PREFIX_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_PREFIX_BODY_LEN = 12
_SECRET_BYTES = 32
_KEY_SHAPE = re.compile(
    rf"({KEY_SCHEME}_[{_PREFIX_ALPHABET}]{{{_PREFIX_BODY_LEN}}})_[A-Za-z0-9_-]{{43}}"
)
PREFIX_SHAPE = re.compile(rf"{KEY_SCHEME}_[{_PREFIX_ALPHABET}]{{{_PREFIX_BODY_LEN}}}")
MERCHANT_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly generated key: ``secret`` is the whole key, shown once and never stored."""

    prefix: str
    secret: str

    @property
    def secret_hash(self) -> bytes:
        """What paycore stores instead of the key."""
        return hash_key(self.secret)


def generate_key() -> IssuedKey:
    """A new random API key."""
    body = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(_PREFIX_BODY_LEN))
    prefix = f"{KEY_SCHEME}_{body}"
    return IssuedKey(prefix, f"{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}")


def key_prefix(presented: str) -> str | None:
    """The prefix of a well-formed key; None when ``presented`` is not shaped like a key."""
    match = _KEY_SHAPE.fullmatch(presented)
    return match.group(1) if match else None


def hash_key(presented: str) -> bytes:
    """SHA-256 of the whole key (see the module docstring for why SHA-256 is enough)."""
    return hashlib.sha256(presented.encode()).digest()


def hashes_match(presented: str, stored_hash: bytes) -> bool:
    """Whether ``presented`` is the key behind ``stored_hash`` (constant time)."""
    return hmac.compare_digest(hash_key(presented), stored_hash)


@dataclass(frozen=True, slots=True)
class Merchant:
    """A merchant account of the platform."""

    id: str
    display_name: str
    created_at: datetime
    raw_card_data_allowed: bool = False
    """Whether CreatePayment/ConfirmPayment may carry full card numbers.

    Off by default: card numbers then enter paycore only through
    CardVaultService.TokenizeCard. A superadmin turns it on only for merchants
    that are themselves PCI DSS assessed to handle card data (Stripe calls
    this "raw card data APIs").
    """

    def audit_view(self) -> dict[str, object]:
        """The merchant as an audit snapshot."""
        return {
            "id": self.id,
            "display_name": self.display_name,
            "raw_card_data_allowed": self.raw_card_data_allowed,
        }


@dataclass(frozen=True, slots=True)
class ApiKey:
    """An API key as paycore stores it: everything but the key itself."""

    prefix: str
    merchant_id: str | None
    """The merchant the key acts for; None for a platform (superadmin) key."""
    role: Role
    description: str
    created_at: datetime
    expires_at: datetime | None = None
    """Set when the key was rotated: it keeps working until then (the overlap window)."""
    revoked_at: datetime | None = None
    rotated_to: str | None = None
    """The prefix of the key that replaced this one (rotation)."""

    def usable_at(self, at: datetime) -> bool:
        """Whether the key authenticates calls at ``at``."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        return self.expires_at is None or at < self.expires_at

    def revoked(self, at: datetime) -> ApiKey:
        """This key, revoked at ``at`` (a key already revoked keeps its first revocation time)."""
        return self if self.revoked_at is not None else replace(self, revoked_at=at)

    def rotated(self, successor: str, expires_at: datetime) -> ApiKey:
        """This key, replaced by ``successor`` and expiring at ``expires_at`` (or sooner)."""
        ends = expires_at if self.expires_at is None else min(self.expires_at, expires_at)
        return replace(self, rotated_to=successor, expires_at=ends)

    def audit_view(self) -> dict[str, object]:
        """The key as an audit snapshot (no secret, no hash)."""
        return {
            "prefix": self.prefix,
            "merchant_id": self.merchant_id,
            "role": self.role.label,
            "description": self.description,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "rotated_to": self.rotated_to,
        }


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """What authenticating a key needs: the key, its stored hash, and its merchant's flags."""

    key: ApiKey
    secret_hash: bytes
    raw_card_data_allowed: bool


def check_key_scope(role: Role, merchant_id: str | None) -> None:
    """Refuse a role/merchant pair that makes no sense (ValueError).

    Merchant and admin keys belong to one merchant; superadmin keys to the
    platform (no merchant). The database enforces the same with a CHECK.
    """
    if (role is Role.SUPERADMIN) != (merchant_id is None):
        raise ValueError("superadmin keys have no merchant; merchant and admin keys need one")
