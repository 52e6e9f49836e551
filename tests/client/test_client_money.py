"""Money helpers: exact conversion between minor units and google.type.Money."""

from __future__ import annotations

from decimal import Decimal

import pytest
from google.type.money_pb2 import Money
from hypothesis import given
from hypothesis import strategies as st

from paycore.client import card, money, to_minor


@pytest.mark.parametrize(
    ("amount_minor", "currency", "units", "nanos"),
    [
        (1050, "USD", 10, 500_000_000),
        (1, "USD", 0, 10_000_000),
        (500, "JPY", 500, 0),
        (3, "BHD", 0, 3_000_000),
        (1234, "BHD", 1, 234_000_000),
        (0, "EUR", 0, 0),
    ],
)
def test_minor_units_become_units_and_nanos_by_the_iso_4217_exponent(
    amount_minor: int, currency: str, units: int, nanos: int
) -> None:
    m = money(amount_minor, currency)

    assert (m.currency_code, m.units, m.nanos) == (currency, units, nanos)
    assert to_minor(m) == amount_minor


@given(
    amount_minor=st.integers(min_value=0, max_value=10**15),
    currency=st.sampled_from(["USD", "JPY", "BHD", "EUR", "KWD", "CLF"]),
)
def test_to_minor_undoes_money(amount_minor: int, currency: str) -> None:
    assert to_minor(money(amount_minor, currency)) == amount_minor


@pytest.mark.parametrize("amount", [10.5, 10.0, Decimal("10.50"), True, "1050"])
def test_anything_but_an_int_amount_is_a_type_error(amount: object) -> None:
    with pytest.raises(TypeError, match="int of minor units"):
        money(amount, "USD")  # type: ignore[arg-type]


def test_a_negative_amount_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        money(-1, "USD")


@pytest.mark.parametrize("currency", ["usd", "ZZZ", "US", ""])
def test_an_unknown_currency_is_refused(currency: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        money(100, currency)


def test_a_currency_without_a_minor_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="no minor unit"):
        money(1, "XAU")


def test_to_minor_refuses_more_precision_than_the_currency_has() -> None:
    with pytest.raises(ValueError, match="more precise"):
        to_minor(Money(currency_code="USD", units=10, nanos=5_000_000))
    with pytest.raises(ValueError, match="more precise"):
        to_minor(Money(currency_code="JPY", units=500, nanos=500_000_000))


def test_to_minor_refuses_negative_money() -> None:
    with pytest.raises(ValueError, match="negative"):
        to_minor(Money(currency_code="USD", units=-1, nanos=0))


def test_card_builds_a_card_payment_method() -> None:
    method = card("4000056655665556", 3, 2031, cvc="737", holder_name="Grace Hopper")

    assert method.WhichOneof("kind") == "card"
    assert (method.card.number, method.card.exp_month, method.card.exp_year) == (
        "4000056655665556",
        3,
        2031,
    )
    assert (method.card.cvc, method.card.holder_name) == ("737", "Grace Hopper")
