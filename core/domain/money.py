"""Money as integer minor units, and the currencies paycore accepts.

Amounts are ``int`` counts of a currency's minor unit (cents, yen, fils): never
floats, never Decimals in flight. ``Money`` refuses to mix currencies and to go
negative, so arithmetic on it cannot quietly produce a wrong balance.

Conversion from and to the wire's ``google.type.Money`` (units + nanos) lives
here too, as pure integer arithmetic: a wire amount more precise than the
currency's ISO 4217 exponent is an error, never rounded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import iso4217

NANOS_PER_UNIT = 1_000_000_000

MAX_AMOUNT_MINOR = 10**15
"""The largest amount paycore accepts, in minor units (10 trillion USD).

Far above any real payment, and small enough that sums of many amounts stay
well inside PostgreSQL's BIGINT and protobuf's int64.
"""


class CurrencyError(ValueError):
    """The currency code is not an ISO 4217 currency with a minor unit."""


class AmountError(ValueError):
    """An amount is negative, too large or too precise for its currency."""


@functools.cache
def currency_exponent(code: str) -> int:
    """The number of decimal places of a currency's minor unit (USD 2, JPY 0, BHD 3).

    Raises CurrencyError for codes that are not upper-case ISO 4217 alphabetic
    codes, and for ISO 4217 entries without a minor unit (gold, SDR, test
    codes): those are not something a card can be charged in.
    """
    if (
        not isinstance(code, str)
        or len(code) != 3
        or not code.isascii()
        or not code.isalpha()
        or not code.isupper()
    ):
        raise CurrencyError(f"{code!r} is not a three-letter upper-case ISO 4217 code")
    try:
        currency = iso4217.Currency(code)
    except ValueError:
        raise CurrencyError(f"{code} is not an ISO 4217 currency") from None
    exponent = currency.exponent
    if exponent is None:
        raise CurrencyError(f"{code} has no minor unit and cannot be charged")
    return int(exponent)


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """A non-negative amount of one currency, in minor units."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True cents is a bug, not an amount.
        if type(self.amount) is not int:
            raise AmountError(
                f"amount must be an int of minor units, got {type(self.amount).__name__}"
            )
        if self.amount < 0:
            raise AmountError("amount must not be negative")
        if self.amount > MAX_AMOUNT_MINOR:
            raise AmountError(f"amount must be at most {MAX_AMOUNT_MINOR} minor units")
        currency_exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """No money, in a currency."""
        return cls(0, currency)

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        """Subtract; raises AmountError rather than go below zero."""
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount >= other.amount

    def is_zero(self) -> bool:
        """Whether the amount is nothing."""
        return self.amount == 0

    def to_units_nanos(self) -> tuple[int, int]:
        """The amount as google.type.Money's (units, nanos)."""
        exponent = currency_exponent(self.currency)
        units, minor = divmod(self.amount, 10**exponent)
        return units, minor * (NANOS_PER_UNIT // 10**exponent)

    @classmethod
    def from_units_nanos(cls, currency: str, units: int, nanos: int) -> Money:
        """Exact conversion from google.type.Money's fields.

        Raises CurrencyError for an unusable currency and AmountError for a
        negative amount, nanos out of range, or nanos finer than the currency's
        minor unit (e.g. 10.005 USD, or any fraction of a yen).
        """
        exponent = currency_exponent(currency)
        if type(units) is not int or type(nanos) is not int:
            raise AmountError("units and nanos must be integers")
        if units < 0 or nanos < 0:
            raise AmountError("amount must not be negative")
        if nanos >= NANOS_PER_UNIT:
            raise AmountError("nanos must be below 1,000,000,000")
        nanos_per_minor = NANOS_PER_UNIT // 10**exponent
        minor, remainder = divmod(nanos, nanos_per_minor)
        if remainder:
            raise AmountError(
                f"{currency} has {exponent} decimal place(s); the amount is more precise than that"
            )
        total = units * 10**exponent + minor
        if total > MAX_AMOUNT_MINOR:
            raise AmountError(f"amount must be at most {MAX_AMOUNT_MINOR} minor units")
        return cls(total, currency)

    def __str__(self) -> str:
        exponent = currency_exponent(self.currency)
        if exponent == 0:
            return f"{self.amount} {self.currency}"
        units, minor = divmod(self.amount, 10**exponent)
        return f"{units}.{minor:0{exponent}d} {self.currency}"
