"""The customer rules of core/domain/customers.py, without servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.domain import ids
from core.domain.customers import (
    CreateCustomer,
    Customer,
    UpdateCustomer,
    customer_paying_by_token,
    erased,
    names_customer,
    new_customer,
    updated,
)
from core.domain.errors import Code, PaycoreError, Reason

AT = datetime(2026, 1, 2, tzinfo=UTC)
LATER = AT + timedelta(hours=1)


def _customer() -> Customer:
    command = CreateCustomer("m1", "a@example.com", "Ada", {"k": "v"}, "tok_X")
    return new_customer(command, "cus_1", AT)


def test_an_update_changes_only_the_fields_it_names() -> None:
    changed = updated(_customer(), UpdateCustomer("m1", "cus_1", name="", metadata={}), LATER)

    assert (changed.email, changed.name, dict(changed.metadata)) == ("a@example.com", "", {})
    assert changed.default_payment_method == "tok_X"
    assert (changed.created_at, changed.updated_at) == (AT, LATER)


def test_a_deleted_customer_keeps_its_id_and_times_but_nothing_about_the_person() -> None:
    gone = erased(_customer(), LATER)

    assert (gone.id, gone.merchant_id, gone.created_at, gone.updated_at) == (
        "cus_1",
        "m1",
        AT,
        LATER,
    )
    assert (gone.email, gone.name, dict(gone.metadata), gone.default_payment_method) == (
        "",
        "",
        {},
        "",
    )
    assert gone.deleted


def test_the_metadata_of_a_customer_cannot_change_behind_its_back() -> None:
    given = {"k": "v"}
    customer = new_customer(CreateCustomer("m1", metadata=given), "cus_1", AT)
    given["k"] = "changed"

    assert dict(customer.metadata) == {"k": "v"}
    with pytest.raises(TypeError):
        customer.metadata["k"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("customer_id", "names"),
    [
        (ids.new_id(ids.CUSTOMER), True),
        ("cus_NffrFeUfNV2Hib", False),  # another provider's id: the merchant's free text
        ("cus_", False),
        ("alice", False),
        ("", False),
        (ids.new_id(ids.PAYMENT), False),
    ],
)
def test_only_a_paycore_customer_id_names_a_customer(customer_id: str, names: bool) -> None:
    assert names_customer(customer_id) is names


@pytest.mark.parametrize(
    ("customer_id", "token_customer", "payer"),
    [
        ("", "", ""),
        ("cus_A", "", "cus_A"),  # a token of no one pays for anyone
        ("alice", "", "alice"),
        ("", "cus_A", "cus_A"),  # "" takes the token's customer
        ("cus_A", "cus_A", "cus_A"),
        ("", "alice", "alice"),  # free text binds as a customer id does
    ],
)
def test_a_token_pays_for_its_own_customer(
    customer_id: str, token_customer: str, payer: str
) -> None:
    assert customer_paying_by_token(customer_id, "tok_1", token_customer) == payer


@pytest.mark.parametrize(("customer_id", "token_customer"), [("cus_B", "cus_A"), ("bob", "alice")])
def test_a_token_refuses_to_pay_for_another_customer(customer_id: str, token_customer: str) -> None:
    with pytest.raises(PaycoreError) as refused:
        customer_paying_by_token(customer_id, "tok_1", token_customer)

    assert refused.value.reason is Reason.CARD_TOKEN_CUSTOMER_MISMATCH
    assert refused.value.code is Code.FAILED_PRECONDITION
    assert token_customer in refused.value.message and customer_id in refused.value.message
