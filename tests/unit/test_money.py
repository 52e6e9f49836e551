"""Money: integer minor units, one currency, exact conversion from google.type.Money."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.domain.money import (
    MAX_AMOUNT_MINOR,
    NANOS_PER_UNIT,
    AmountError,
    CurrencyError,
    Money,
    currency_exponent,
)

# Real ISO 4217 currencies and their minor-unit exponents. Written out here (not
# read from the iso4217 package) so the tests state what paycore promises.
EXPONENTS = {
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "CHF": 2,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}

currencies = st.sampled_from(sorted(EXPONENTS))
amounts = st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR)


# --- currencies -------------------------------------------------------------


@pytest.mark.parametrize(("code", "exponent"), sorted(EXPONENTS.items()))
def test_currency_exponent_is_the_iso_4217_minor_unit(code: str, exponent: int) -> None:
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize(
    "code",
    [
        "ZZZ",  # not a currency
        "usd",  # lower case
        "Usd",
        "US",
        "USDX",
        "",
        "U$D",
        "ÜSD",  # upper case, alphabetic, not ASCII
        "XAU",  # gold: no minor unit
        "XXX",  # "no currency"
        "XDR",  # special drawing right: no minor unit
        "XTS",  # reserved for testing
    ],
)
def test_currencies_without_a_usable_minor_unit_are_refused(code: str) -> None:
    with pytest.raises(CurrencyError):
        currency_exponent(code)
    with pytest.raises(CurrencyError):
        Money(100, code)
    with pytest.raises(CurrencyError):
        Money.from_units_nanos(code, 1, 0)


# --- google.type.Money -> minor units ---------------------------------------


@pytest.mark.parametrize(
    ("currency", "units", "nanos", "minor"),
    [
        ("USD", 10, 500_000_000, 1050),
        ("USD", 0, 10_000_000, 1),
        ("USD", 0, 0, 0),
        ("USD", 1, 990_000_000, 199),
        ("EUR", 123, 450_000_000, 12345),
        ("JPY", 500, 0, 500),
        ("JPY", 0, 0, 0),
        ("BHD", 1, 5_000_000, 1005),
        ("BHD", 0, 1_000_000, 1),
        ("KWD", 12, 345_000_000, 12345),
        ("KWD", 0, 999_000_000, 999),
    ],
)
def test_wire_money_converts_exactly_to_minor_units(
    currency: str, units: int, nanos: int, minor: int
) -> None:
    money = Money.from_units_nanos(currency, units, nanos)
    assert money == Money(minor, currency)
    assert money.to_units_nanos() == (units, nanos)


@pytest.mark.parametrize(
    ("currency", "units", "nanos"),
    [
        ("USD", 10, 5_000_000),  # 10.005 USD
        ("USD", 0, 1),
        ("EUR", 0, 999_999_999),
        ("JPY", 1, 1),  # any fraction of a yen
        ("JPY", 0, 500_000_000),
        ("BHD", 1, 500_000),  # 1.0005 BHD
        ("KWD", 0, 1),
    ],
)
def test_wire_money_more_precise_than_the_currency_is_refused_not_rounded(
    currency: str, units: int, nanos: int
) -> None:
    with pytest.raises(AmountError, match="more precise"):
        Money.from_units_nanos(currency, units, nanos)


@pytest.mark.parametrize(
    ("units", "nanos"),
    [(-1, 0), (0, -10_000_000), (-1, -500_000_000)],
)
def test_negative_wire_money_is_refused(units: int, nanos: int) -> None:
    with pytest.raises(AmountError, match="negative"):
        Money.from_units_nanos("USD", units, nanos)


@pytest.mark.parametrize(
    "nanos", [NANOS_PER_UNIT, NANOS_PER_UNIT + 10_000_000, 10 * NANOS_PER_UNIT]
)
def test_nanos_of_a_whole_unit_or_more_are_refused(nanos: int) -> None:
    with pytest.raises(AmountError, match="nanos"):
        Money.from_units_nanos("USD", 0, nanos)


@pytest.mark.parametrize(("currency", "exponent"), [("JPY", 0), ("USD", 2), ("BHD", 3)])
def test_wire_money_up_to_the_maximum_is_accepted_and_above_it_refused(
    currency: str, exponent: int
) -> None:
    max_units = MAX_AMOUNT_MINOR // 10**exponent
    assert Money.from_units_nanos(currency, max_units, 0).amount == MAX_AMOUNT_MINOR

    smallest_nanos = NANOS_PER_UNIT // 10**exponent
    if exponent:
        with pytest.raises(AmountError, match="at most"):
            Money.from_units_nanos(currency, max_units, smallest_nanos)
    with pytest.raises(AmountError, match="at most"):
        Money.from_units_nanos(currency, max_units + 1, 0)


# --- Money values -----------------------------------------------------------


def test_money_accepts_zero_and_the_maximum_amount() -> None:
    assert Money(0, "USD").is_zero()
    assert Money.zero("JPY") == Money(0, "JPY")
    assert Money(MAX_AMOUNT_MINOR, "USD").amount == MAX_AMOUNT_MINOR


def test_money_above_the_maximum_amount_is_refused() -> None:
    with pytest.raises(AmountError):
        Money(MAX_AMOUNT_MINOR + 1, "USD")


@pytest.mark.parametrize("amount", [10.0, 10.5, Decimal("10"), "10", True, False, None])
def test_money_refuses_anything_but_an_int_of_minor_units(amount: object) -> None:
    with pytest.raises(AmountError, match="int"):
        Money(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [-1, -(10**15)])
def test_money_refuses_negative_amounts(amount: int) -> None:
    with pytest.raises(AmountError, match="negative"):
        Money(amount, "USD")


def test_money_of_different_currencies_is_not_equal() -> None:
    assert Money(100, "USD") != Money(100, "EUR")
    assert Money(100, "USD") == Money(100, "USD")


def test_arithmetic_refuses_mixed_currencies() -> None:
    usd, eur = Money(100, "USD"), Money(100, "EUR")
    with pytest.raises(CurrencyError):
        usd + eur
    with pytest.raises(CurrencyError):
        usd - eur


@pytest.mark.parametrize(
    "compare",
    [
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_comparison_refuses_mixed_currencies(compare: Callable[[Money, Money], bool]) -> None:
    with pytest.raises(CurrencyError):
        compare(Money(1, "USD"), Money(2, "EUR"))


def test_subtraction_below_zero_raises() -> None:
    with pytest.raises(AmountError):
        Money(100, "USD") - Money(101, "USD")
    assert Money(100, "USD") - Money(100, "USD") == Money(0, "USD")


def test_addition_above_the_maximum_raises() -> None:
    with pytest.raises(AmountError):
        Money(MAX_AMOUNT_MINOR, "USD") + Money(1, "USD")


def test_money_is_immutable() -> None:
    money = Money(100, "USD")
    with pytest.raises(AttributeError):
        money.amount = 200  # type: ignore[misc]


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(1050, "USD"), "10.50 USD"),
        (Money(5, "USD"), "0.05 USD"),
        (Money(0, "EUR"), "0.00 EUR"),
        (Money(100_000, "EUR"), "1000.00 EUR"),
        (Money(500, "JPY"), "500 JPY"),
        (Money(0, "JPY"), "0 JPY"),
        (Money(1005, "BHD"), "1.005 BHD"),
        (Money(7, "KWD"), "0.007 KWD"),
        (Money(MAX_AMOUNT_MINOR, "USD"), "10000000000000.00 USD"),
    ],
)
def test_str_shows_the_amount_in_major_units_with_the_currency(money: Money, text: str) -> None:
    assert str(money) == text


# --- properties ---------------------------------------------------------------


@given(amount=amounts, currency=currencies)
def test_any_amount_round_trips_through_units_and_nanos(amount: int, currency: str) -> None:
    money = Money(amount, currency)
    units, nanos = money.to_units_nanos()
    assert units >= 0
    assert 0 <= nanos < NANOS_PER_UNIT
    assert Money.from_units_nanos(currency, units, nanos) == money


@given(
    units=st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR // 100 + 2),
    nanos=st.one_of(
        st.integers(min_value=0, max_value=NANOS_PER_UNIT - 1),
        st.integers(min_value=0, max_value=999).map(lambda n: n * 1_000_000),
        st.integers(min_value=0, max_value=99).map(lambda n: n * 10_000_000),
        st.just(0),
    ),
    currency=currencies,
)
def test_wire_money_is_accepted_exactly_when_it_fits_the_currency(
    units: int, nanos: int, currency: str
) -> None:
    # Oracle: decimal arithmetic, independent of the integer code under test.
    exponent = EXPONENTS[currency]
    value = Decimal(units) + Decimal(nanos) / NANOS_PER_UNIT
    minor = value * 10**exponent
    representable = minor == minor.to_integral_value() and minor <= MAX_AMOUNT_MINOR
    if representable:
        money = Money.from_units_nanos(currency, units, nanos)
        assert money.amount == int(minor)
        assert money.to_units_nanos() == (units, nanos)
    else:
        with pytest.raises(AmountError):
            Money.from_units_nanos(currency, units, nanos)


@given(amount=amounts, currency=currencies)
def test_str_is_the_exact_decimal_amount(amount: int, currency: str) -> None:
    number, code = str(Money(amount, currency)).split(" ")
    assert code == currency
    assert Decimal(number) * 10 ** EXPONENTS[currency] == amount
    # Always exactly the currency's number of decimals.
    decimals = number.partition(".")[2]
    assert len(decimals) == EXPONENTS[currency]


third = st.integers(min_value=0, max_value=MAX_AMOUNT_MINOR // 3)


@given(a=third, b=third, c=third, currency=currencies)
def test_addition_is_associative_within_a_currency(a: int, b: int, c: int, currency: str) -> None:
    x, y, z = Money(a, currency), Money(b, currency), Money(c, currency)
    assert (x + y) + z == x + (y + z) == Money(a + b + c, currency)


@given(a=third, b=third, currency=currencies)
def test_addition_is_commutative_and_zero_is_neutral(a: int, b: int, currency: str) -> None:
    x, y = Money(a, currency), Money(b, currency)
    assert x + y == y + x
    assert x + Money.zero(currency) == x


@given(a=amounts, b=amounts, currency=currencies)
def test_subtraction_undoes_addition_and_comparison_follows_amounts(
    a: int, b: int, currency: str
) -> None:
    x, y = Money(a, currency), Money(b, currency)
    assert (x < y) == (a < b)
    assert (x <= y) == (a <= b)
    assert (x > y) == (a > b)
    assert (x >= y) == (a >= b)
    big, small = (x, y) if a >= b else (y, x)
    assert (big - small) + small == big
