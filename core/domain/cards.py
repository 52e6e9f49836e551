"""Card number checks and the masked form paycore keeps. Pure functions.

A full card number lives only in memory for the duration of a channel call;
what is stored is ``CardSummary``: brand, BIN, last four, expiry and a keyed
fingerprint that identifies the card across payments without revealing it.
"""

from __future__ import annotations

import functools
import hmac
from datetime import date

from core.domain.commands import CardInput
from core.domain.digits import is_ascii_digits
from core.domain.payment import CardSummary


def luhn_valid(number: str) -> bool:
    """The Luhn (mod 10) check every card number passes (ASCII digits only, see digits.py)."""
    if not is_ascii_digits(number):
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    """The card network, from the leading digits (enough for routing and display)."""
    if number.startswith("4"):
        return "visa"
    prefix2, prefix4 = int(number[:2]), int(number[:4])
    if 51 <= prefix2 <= 55 or 2221 <= prefix4 <= 2720:
        return "mastercard"
    if prefix2 in (34, 37):
        return "amex"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    return "unknown"


def is_expired(exp_month: int, exp_year: int, today: date) -> bool:
    """Cards are valid through the last day of their expiry month."""
    return (exp_year, exp_month) < (today.year, today.month)


def fingerprint(number: str, key: str) -> str:
    """HMAC-SHA256 of the number under a server secret, hex, first 32 characters.

    Keyed, so that a leaked fingerprint column cannot be brute-forced back into
    card numbers (the space of PANs is small enough for an unkeyed hash).
    """
    keyed = _keyed(key).copy()
    keyed.update(number.encode())
    return keyed.hexdigest()[:32]


@functools.lru_cache(maxsize=8)
def _keyed(key: str) -> hmac.HMAC:
    # The HMAC state after the key (its two padded key blocks hashed): copied per
    # card, so a fingerprint hashes the number only. It holds the server's
    # secret, which this process holds anyway; never a card number.
    return hmac.new(key.encode(), digestmod="sha256")


def summarize(card: CardInput, fingerprint_key: str) -> CardSummary:
    """The masked form of a card, safe to store and show."""
    return CardSummary(
        brand=brand_of(card.number),
        bin=card.number[:6],
        last4=card.number[-4:],
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        fingerprint=fingerprint(card.number, fingerprint_key),
    )
