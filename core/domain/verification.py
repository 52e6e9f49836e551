"""One-time verification codes: a wallet payment's customer proves it is them (pure).

Risk's step-up (``RiskDecision.STEP_UP``) asks a wallet payment's customer for
a code sent to them (core/ports/verification.py's ``CodeSender``). The code
itself is never stored, logged or answered: only its keyed digest is kept
(``code_digest``), compared in constant time (``code_matches``). The payment
waits in REQUIRES_ACTION with a ``NextAction`` whose ``verify_code`` says where
the code went (masked) and how many wrong codes are left; the transitions are
core/domain/lifecycle/_verification.py.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

CODE_DIGITS = 6
"""A code is six ASCII digits."""
MAX_ATTEMPTS = 5
"""Wrong codes before the payment is locked out (declined ``verification_failed``)."""


@dataclass(frozen=True, slots=True)
class VerifyCode:
    """Enter the code sent to ``sent_to``; ``attempts_left`` more wrong codes lock it out."""

    sent_to: str
    """Where the code went, masked (``j***@example.com``, ``+1 *** *** 12``)."""
    attempts_left: int


def mask_destination(destination: str) -> str:
    """An email or phone number as the customer recognises it and nobody else can use.

    ``jane@example.com`` -> ``j***@example.com``; ``+1 415 555 0112`` -> ``+1 *** *** 12``
    (the first digit after ``+`` and the last two).
    """
    local, at, domain = destination.partition("@")
    if at:
        return f"{local[:1]}***@{domain}"
    digits = "".join(ch for ch in destination if ch.isdigit())
    return f"+{digits[:1]} *** *** {digits[-2:]}"


def code_digest(key: bytes, payment_id: str, code: str) -> str:
    """The keyed digest a code is stored as (HMAC-SHA256 over the payment id and the code).

    Keyed, because a six-digit code's plain hash is reversed by trying a
    million codes; bound to the payment, so one payment's digest says nothing
    of another's.
    """
    message = f"{payment_id}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def code_matches(key: bytes, payment_id: str, code: str, digest: str) -> bool:
    """Whether ``code`` is the one stored as ``digest`` (constant-time comparison)."""
    return hmac.compare_digest(code_digest(key, payment_id, code), digest)


def well_formed_code(code: str) -> bool:
    """Whether ``code`` could be a code at all (six ASCII digits)."""
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()
