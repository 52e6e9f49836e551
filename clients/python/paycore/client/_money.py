"""Exact conversion between integer minor units and google.type.Money.

paycore counts money in integer minor units (cents for USD, yen for JPY, fils
for BHD); the wire carries ``google.type.Money`` (whole ``units`` plus
``nanos``, billionths of a unit). The number of minor units per unit comes from
the currency's ISO 4217 exponent, the same table the server uses, so the two
sides always agree. Floats are refused: 0.1 + 0.2 is not 0.3, and money that
is almost right is wrong.
"""

from __future__ import annotations

import functools

import iso4217
from google.type.money_pb2 import Money

_NANOS_PER_UNIT = 1_000_000_000


@functools.cache
def _exponent(currency: str) -> int:
    try:
        exponent = iso4217.Currency(currency).exponent
    except ValueError:
        raise ValueError(f"{currency!r} is not an ISO 4217 currency code") from None
    if exponent is None:
        raise ValueError(f"{currency} has no minor unit and cannot be charged")
    return int(exponent)


def money(amount_minor: int, currency: str) -> Money:
    """``amount_minor`` minor units of ``currency`` as a google.type.Money.

    ``money(1050, "USD")`` is 10.50 USD (units 10, nanos 500000000);
    ``money(500, "JPY")`` is 500 JPY; ``money(1234, "BHD")`` is 1.234 BHD.

    Raises:
        TypeError: ``amount_minor`` is not an int (a float, a Decimal, a bool).
        ValueError: the amount is negative, or the currency is not an ISO 4217
            currency with a minor unit.
    """
    # bool is an int subclass, and True cents is a bug, not an amount.
    if type(amount_minor) is not int:
        raise TypeError(
            f"amount_minor must be an int of minor units, not {type(amount_minor).__name__}"
        )
    if amount_minor < 0:
        raise ValueError("amount_minor must not be negative")
    scale: int = 10 ** _exponent(currency)
    units, minor = divmod(amount_minor, scale)
    return Money(currency_code=currency, units=units, nanos=minor * (_NANOS_PER_UNIT // scale))


def to_minor(m: Money) -> int:
    """The amount of a google.type.Money in integer minor units of its currency.

    Raises:
        ValueError: the amount is negative, ``nanos`` is out of range or finer
            than the currency's minor unit (e.g. 10.005 USD), or the currency
            is not an ISO 4217 currency with a minor unit.
    """
    # Typed locals: mypy sees google.type's fields as Any unless configured to
    # read its untyped stubs, and int ** int is Any to it anyway.
    units: int = m.units
    nanos: int = m.nanos
    exponent = _exponent(m.currency_code)
    scale: int = 10**exponent
    if units < 0 or nanos < 0:
        raise ValueError("paycore amounts are never negative")
    if nanos >= _NANOS_PER_UNIT:
        raise ValueError("nanos must be below 1,000,000,000")
    minor, remainder = divmod(nanos, _NANOS_PER_UNIT // scale)
    if remainder:
        raise ValueError(
            f"{m.currency_code} has {exponent} decimal place(s); the amount is more precise"
        )
    return units * scale + minor
