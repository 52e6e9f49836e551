"""Shoppers of realistic checkout traffic for load tests: their cards, emails, IPs, devices.

A merchant's risk engine judges a payment by its card, customer, email, IP and
device over 1 min / 1 h / 24 h (riskengine/default_rules.toml). Load made of a
few cards paid again and again is card testing to it: after about eight uses a
card is declined (``risk_declined``), which is what a load test of a real shop
must not look like. So each shopper here has a card of their own (Luhn-valid,
from the sandbox's "authorized" ranges, issued in the US), an email, a device
and an IP, and ``Shoppers`` draws mostly new shoppers and sometimes one of the
recently seen ones (a returning customer, same card and device): per shopper,
a few payments an hour at most, however long the run.

A small share of new shoppers carry one of the sandbox cards that the issuer
declines (``card_declined``...): the declines a merchant sees every day.

Pure: no I/O, no locust; the randomness is a ``random.Random`` passed in.
"""

from __future__ import annotations

import random
import uuid
from collections import deque
from dataclasses import dataclass

from core.domain.cards import luhn_valid

APPROVED_PREFIXES = (("4242", 16), ("4111", 16), ("5555", 16), ("5105", 16), ("3782", 15))
"""(prefix, length) of the generated cards: visa, mastercard, amex, all issued in the US.

Any Luhn-valid number outside the sandbox's special cards is authorized
(router/channels/sandbox.py); the special ones all start with 400000.
"""
DECLINING_CARDS = ("4000000000000002", "4000000000009995", "4000000000000069")
"""Sandbox cards the issuer declines: card_declined, insufficient_funds, expired_card."""
MIN_AMOUNT_MINOR = 12_00
"""Above 10.00: a small amount on a card declined before is a card-testing signal."""
MAX_AMOUNT_MINOR = 480_00
"""Below 500.00, where a first-time customer's payment starts to look risky, and far from
the simulated channels' amount triggers (amounts ending in 999.01-999.05)."""


def luhn_complete(payload: str) -> str:
    """``payload`` with the check digit that makes it pass the Luhn check."""
    return next(payload + digit for digit in "0123456789" if luhn_valid(payload + digit))


def approved_card(rng: random.Random) -> str:
    """A fresh Luhn-valid card number that the sandbox authorizes."""
    prefix, length = rng.choice(APPROVED_PREFIXES)
    body = "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return luhn_complete(prefix + body)


def public_ipv4(rng: random.Random) -> str:
    """A random address from 11.0.0.0-99.255.255.255 minus the private 10/8 (a home IP)."""
    first, second, third = rng.randrange(11, 100), rng.randrange(256), rng.randrange(256)
    return f"{first}.{second}.{third}.{rng.randrange(1, 255)}"


@dataclass(frozen=True, slots=True)
class Shopper:
    """One customer of the merchant with the signals a checkout sends in ``risk_context``."""

    customer_id: str
    email: str
    ip_address: str
    ip_country: str
    device_id: str
    card_number: str


class Shoppers:
    """The shoppers of one load-generating user: new ones, and some who come back.

    ``returning_share`` of the draws is someone from the last ``remembered``
    shoppers; the rest are new. Old shoppers are forgotten as new ones arrive,
    so how often one shopper pays does not grow with the length of the run.
    """

    def __init__(
        self,
        rng: random.Random,
        *,
        returning_share: float = 0.3,
        declining_share: float = 0.02,
        travelling_share: float = 0.03,
        remembered: int = 200,
    ) -> None:
        self._rng = rng
        self._returning_share = returning_share
        self._declining_share = declining_share
        self._travelling_share = travelling_share
        self._recent: deque[Shopper] = deque(maxlen=remembered)

    def next(self) -> tuple[Shopper, bool]:
        """The shopper at the checkout now, and whether they are new."""
        if self._recent and self._rng.random() < self._returning_share:
            return self._rng.choice(self._recent), False
        shopper = self.new()
        self._recent.append(shopper)
        return shopper, True

    def new(self, *, card_number: str = "") -> Shopper:
        """A shopper never seen before (with ``card_number``, else their own fresh card)."""
        rng = self._rng
        handle = uuid.UUID(int=rng.getrandbits(128)).hex[:12]
        if not card_number:
            declining = rng.random() < self._declining_share
            card_number = rng.choice(DECLINING_CARDS) if declining else approved_card(rng)
        # A few shop from abroad with their US card (the risk engine scores the mismatch).
        country = "GB" if rng.random() < self._travelling_share else "US"
        return Shopper(
            customer_id=f"cus_{handle}",
            email=f"{handle}@example.com",
            ip_address=public_ipv4(rng),
            ip_country=country,
            device_id=f"dev_{handle}",
            card_number=card_number,
        )

    def amount_minor(self) -> int:
        """An everyday basket: mostly tens of dollars, rarely a few hundred."""
        amount = int(self._rng.lognormvariate(8.3, 0.7))  # median about 40.00
        return min(max(amount, MIN_AMOUNT_MINOR), MAX_AMOUNT_MINOR)
