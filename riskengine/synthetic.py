"""A labeled synthetic payment stream: legitimate customers plus injected fraud (pure, seeded).

Used to measure the rules (bench/risk_quality.py) and to test that they
detect fraud better than chance (tests/risk/test_quality.py). Patterns:

- ``legit``: returning customers from five countries, a few payments each
  over two days, log-normal amounts; some travel (IP abroad), some guest
  checkouts, a few issuer declines;
- ``card_testing``: one device and IP trying many stolen cards for small
  amounts within minutes, most declined by the issuer;
- ``velocity_burst``: one stolen card used again and again within an hour;
- ``geo_mismatch``: a new customer whose IP is far from the card's country;
- ``account_takeover``: a known customer, suddenly from a new device
  abroad, spending many times their average;
- ``amount_outlier``: a new customer with a very large first payment.

Everything is derived from ``seed``: the same call gives the same stream.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from core.domain.money import Money
from core.domain.payment import CardSummary
from riskengine.features import Transaction

PATTERNS = (
    "legit",
    "card_testing",
    "velocity_burst",
    "geo_mismatch",
    "account_takeover",
    "amount_outlier",
)
_COUNTRIES = (("US", "411111", 0.7), ("GB", "446200", 0.1), ("DE", "520000", 0.1),
              ("FR", "497000", 0.05), ("CA", "450600", 0.05))  # fmt: skip
_FAR_AWAY = ("NG", "RU", "VN", "BR", "ID", "RO")
_MINUTE = 60_000
_HOUR = 60 * _MINUTE
START_MS = 1_800_000_000_000


@dataclass(frozen=True, slots=True)
class LabeledTransaction:
    """One payment of the stream, when it happens, and the truth about it."""

    at_ms: int
    transaction: Transaction
    fraud: bool
    pattern: str
    issuer_declines: bool
    """What the issuer would answer if the payment reached it."""


class _Maker:
    def __init__(self, merchant_id: str, rng: random.Random) -> None:
        self.merchant_id = merchant_id
        self.rng = rng
        self.serial = 0

    def card(self, bin_prefix: str) -> CardSummary:
        self.serial += 1
        last4 = f"{self.rng.randrange(10_000):04d}"
        return CardSummary("visa" if bin_prefix[0] == "4" else "mastercard", bin_prefix, last4,
                           12, 2031, f"fp_{self.serial}")  # fmt: skip

    def amount(self, median: float, sigma: float, low: int, high: int) -> int:
        value = int(self.rng.lognormvariate(math.log(median), sigma))
        return max(low, min(high, value))

    def payment(self, amount: int, card: CardSummary, **fields: Any) -> Transaction:
        return Transaction(self.merchant_id, Money(amount, "USD"), card, **fields)

    def country(self) -> tuple[str, str]:
        pick = self.rng.random()
        for country, bin_prefix, share in _COUNTRIES:
            if pick < share:
                return country, bin_prefix
            pick -= share
        return _COUNTRIES[0][0], _COUNTRIES[0][1]


def generate(
    merchant_id: str, *, customers: int = 300, attacks: int = 8, seed: int = 7
) -> list[LabeledTransaction]:
    """The stream, ordered by time, over about two days from ``START_MS``."""
    rng = random.Random(seed)
    make = _Maker(merchant_id, rng)
    span = 48 * _HOUR
    events: list[LabeledTransaction] = []
    histories: list[tuple[int, str, str, CardSummary, list[int], int]] = []

    for c in range(customers):
        country, bin_prefix = make.country()
        card = make.card(bin_prefix)
        customer = f"cust_{c}"
        email = f"user{c}@{rng.choice(['example.com', 'mail.test', 'inbox.test'])}"
        device = f"dev_{c}"
        ip = f"10.{c // 250}.{c % 250}.7"
        amounts: list[int] = []
        last = 0
        for _ in range(rng.randint(1, 7)):
            at = START_MS + rng.randrange(span)
            amount = make.amount(4500, 0.7, 300, 150_000)
            amounts.append(amount)
            last = max(last, at)
            guest = rng.random() < 0.15
            travel = rng.random() < 0.05
            transaction = make.payment(
                amount,
                card,
                customer_id="" if guest else customer,
                customer_email=email,
                ip_address=ip,
                ip_country=rng.choice(["ES", "IT", "MX"]) if travel else country,
                device_id=f"{device}_{rng.randrange(99)}" if guest else device,
            )
            declined = rng.random() < 0.03
            events.append(LabeledTransaction(at, transaction, False, "legit", declined))
        histories.append((c, country, ip, card, amounts, last))

    for a in range(attacks):
        start = START_MS + rng.randrange(span - 2 * _HOUR)
        # Card testing: many cards, one device, small amounts, mostly declined.
        device, ip = f"ct_dev_{a}", f"172.16.{a}.9"
        at = start
        for _ in range(rng.randint(15, 35)):
            at += rng.randint(2_000, 12_000)
            transaction = make.payment(
                rng.randint(100, 900), make.card("411111"),
                ip_address=ip, ip_country="US", device_id=device,
            )  # fmt: skip
            events.append(
                LabeledTransaction(at, transaction, True, "card_testing", rng.random() < 0.75)
            )
        # Velocity burst: one stolen card, again and again within the hour.
        stolen = make.card("411111")
        at = start + rng.randrange(span // 4)
        for i in range(rng.randint(6, 12)):
            at += rng.randint(2 * _MINUTE, 7 * _MINUTE)
            transaction = make.payment(
                make.amount(15_000, 0.5, 3_000, 60_000), stolen,
                customer_id=f"vb_{a}_{i}", ip_address=f"172.17.{a}.{i}", ip_country="US",
                device_id=f"vb_dev_{a}",
            )  # fmt: skip
            events.append(LabeledTransaction(at, transaction, True, "velocity_burst", False))

    for g in range(attacks * 3):
        # Geo mismatch: a brand-new customer far from the card's country.
        country, bin_prefix = make.country()
        transaction = make.payment(
            make.amount(25_000, 0.6, 5_000, 200_000), make.card(bin_prefix),
            customer_id=f"geo_{g}", customer_email=f"g{g}@mail.test",
            ip_address=f"100.64.{g}.1", ip_country=rng.choice(_FAR_AWAY), device_id=f"geo_dev_{g}",
        )  # fmt: skip
        at = START_MS + rng.randrange(span)
        events.append(LabeledTransaction(at, transaction, True, "geo_mismatch", False))

    returning = [h for h in histories if len(h[4]) >= 3]
    for t, (c, _country, _ip, card, amounts, last) in enumerate(
        rng.sample(returning, min(len(returning), attacks * 2))
    ):
        # Account takeover: after the customer's own payments, from abroad, big.
        average = sum(amounts) // len(amounts)
        transaction = make.payment(
            average * rng.randint(5, 15), card,
            customer_id=f"cust_{c}", customer_email=f"user{c}@example.com",
            ip_address=f"100.65.{t}.1", ip_country=rng.choice(_FAR_AWAY), device_id=f"ato_dev_{t}",
        )  # fmt: skip
        at = last + rng.randint(_MINUTE, 6 * _HOUR)
        events.append(LabeledTransaction(at, transaction, True, "account_takeover", False))

    for o in range(attacks * 2):
        # Amount outlier: a new customer's very large first payment.
        country, bin_prefix = make.country()
        transaction = make.payment(
            rng.randint(250_000, 900_000), make.card(bin_prefix),
            customer_id=f"big_{o}", customer_email=f"b{o}@mail.test",
            ip_address=f"100.66.{o}.1", ip_country=country, device_id=f"big_dev_{o}",
        )  # fmt: skip
        at = START_MS + rng.randrange(span)
        events.append(LabeledTransaction(at, transaction, True, "amount_outlier", False))

    events.sort(key=lambda e: e.at_ms)
    return events
