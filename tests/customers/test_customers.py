"""CustomerService end to end (real PostgreSQL and Redis): each RPC, its refusals, isolation."""

from __future__ import annotations

import json

import asyncpg
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from paycore.v1 import customer_service_pb2 as cs
from tests.customers.conftest import CustomerApi
from tests.support.api import VaultApi
from tests.support.expect import INVALID_ARGUMENT, NOT_FOUND, expect_error, expect_invalid
from tests.support.requests import VISA, new_request_id

UNKNOWN = "cus_01JD0Z8W7X6V5T4S3R2Q1P0N9M"


async def _rows(db: asyncpg.Pool, merchant_id: str) -> list[asyncpg.Record]:
    """Every customer row of the merchant, deleted ones too (what was committed)."""
    return await db.fetch("SELECT * FROM customers WHERE merchant_id = $1 ORDER BY id", merchant_id)


async def test_a_customer_is_created_read_and_listed(
    customers: CustomerApi, vault: VaultApi
) -> None:
    token = await vault.tokenize(VISA)

    created = await customers.create(
        email="ada@example.com",
        name="Ada Lovelace",
        metadata={"tier": "gold"},
        default_payment_method=token.id,
    )

    assert created.id.startswith("cus_") and len(created.id) == 30
    assert (created.email, created.name, dict(created.metadata)) == (
        "ada@example.com",
        "Ada Lovelace",
        {"tier": "gold"},
    )
    assert created.default_payment_method == token.id
    assert created.create_time == created.update_time
    assert await customers.get(created.id) == created
    assert list((await customers.list()).customers) == [created]


async def test_update_changes_the_masked_fields_or_every_field_set(customers: CustomerApi) -> None:
    created = await customers.create(email="a@example.com", name="A", metadata={"k": "v"})

    masked = await customers.update(
        created.id,
        name="ignored: not in the mask",
        email="",
        update_mask=FieldMask(paths=["email"]),
    )
    assert (masked.email, masked.name, dict(masked.metadata)) == ("", "A", {"k": "v"})
    unmasked = await customers.update(created.id, name="B")
    assert (unmasked.email, unmasked.name, dict(unmasked.metadata)) == ("", "B", {"k": "v"})
    assert unmasked.update_time.ToDatetime() > created.update_time.ToDatetime()
    assert await customers.get(created.id) == unmasked


async def test_customers_are_listed_newest_first_page_by_page_and_by_email(
    customers: CustomerApi,
) -> None:
    made = [await customers.create(email=f"c{i}@example.com") for i in range(3)]
    twin = await customers.create(email="c0@example.com")

    first = await customers.list(page_size=3)
    second = await customers.list(page_size=3, page_token=first.next_page_token)
    assert [c.id for c in first.customers] == [twin.id, made[2].id, made[1].id]
    assert [c.id for c in second.customers] == [made[0].id]
    assert second.next_page_token == ""
    by_email = await customers.list(email="c0@example.com")
    assert [c.id for c in by_email.customers] == [twin.id, made[0].id]
    # A token is valid only for the filters it was issued with.
    await expect_error(
        customers.list(page_size=3, page_token=first.next_page_token, email="c1@example.com"),
        INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )


async def test_a_deleted_customer_is_erased_and_not_found(
    customers: CustomerApi, db: asyncpg.Pool
) -> None:
    created = await customers.create(email="gone@example.com", name="Gone", metadata={"k": "v"})

    await customers.delete(created.id)

    for call in (
        customers.get(created.id),
        customers.update(created.id, name="x"),
        customers.delete(created.id),
    ):
        await expect_error(call, NOT_FOUND, "CUSTOMER_NOT_FOUND")
    assert list((await customers.list()).customers) == []
    [row] = await _rows(db, customers.merchant_id)
    erased = (row["deleted"], row["email"], row["name"], json.loads(row["metadata"]))
    assert erased == (True, "", "", {})
    assert row["default_payment_method"] is None


async def test_a_repeated_request_id_replays_the_first_answer(
    customers: CustomerApi, db: asyncpg.Pool
) -> None:
    request = cs.CreateCustomerRequest(request_id=new_request_id(), email="once@example.com")

    first = await customers.call("CreateCustomer", request)
    again = await customers.call("CreateCustomer", request)

    assert again == first
    assert len(await _rows(db, customers.merchant_id)) == 1
    request.email = "other@example.com"
    await expect_error(
        customers.call("CreateCustomer", request), INVALID_ARGUMENT, "IDEMPOTENCY_KEY_REUSED"
    )
    assert len(await _rows(db, customers.merchant_id)) == 1


async def test_a_refused_update_replays_its_refusal(customers: CustomerApi) -> None:
    request = cs.UpdateCustomerRequest(request_id=new_request_id(), customer_id=UNKNOWN, name="x")

    await expect_error(customers.call("UpdateCustomer", request), NOT_FOUND, "CUSTOMER_NOT_FOUND")
    await expect_error(customers.call("UpdateCustomer", request), NOT_FOUND, "CUSTOMER_NOT_FOUND")


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"email": "not-an-email"}, ["email"]),
        ({"email": "a b@example.com"}, ["email"]),
        ({"email": "x" * 250 + "@example.com"}, ["email"]),
        ({"name": "x" * 256}, ["name"]),
        ({"metadata": {"paycore.owner": "x"}}, ["metadata"]),
        ({"metadata": {"k": "v" * 501}}, ["metadata"]),
        ({"default_payment_method": "card_123"}, ["default_payment_method"]),
        ({"request_id": ""}, ["request_id"]),
        ({"email": "bad", "name": "y" * 300}, ["email", "name"]),
    ],
)
async def test_an_invalid_create_names_every_bad_field_and_creates_nothing(
    customers: CustomerApi, db: asyncpg.Pool, fields: dict, bad: list[str]
) -> None:
    request = cs.CreateCustomerRequest(**{"request_id": new_request_id(), **fields})

    await expect_invalid(customers.call("CreateCustomer", request), *bad)

    assert await _rows(db, customers.merchant_id) == []


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"customer_id": "pay_01JD0Z8W7X6V5T4S3R2Q1P0N9M", "name": "x"}, ["customer_id"]),
        ({"customer_id": "", "name": "x"}, ["customer_id"]),
        ({"email": "nope"}, ["email"]),
        ({"update_mask": FieldMask(paths=["id"])}, ["update_mask"]),
        ({}, ["update_mask"]),  # nothing to change
    ],
)
async def test_an_invalid_update_names_its_fields_and_changes_nothing(
    customers: CustomerApi, fields: dict, bad: list[str]
) -> None:
    created = await customers.create(email="keep@example.com")
    request = cs.UpdateCustomerRequest(
        **{"request_id": new_request_id(), "customer_id": created.id, **fields}
    )

    await expect_invalid(customers.call("UpdateCustomer", request), *bad)

    assert await customers.get(created.id) == created


async def test_reads_and_deletes_name_a_customer_id(customers: CustomerApi) -> None:
    await expect_invalid(
        customers.call("GetCustomer", cs.GetCustomerRequest(customer_id="x")), "customer_id"
    )
    await expect_invalid(
        customers.call("DeleteCustomer", cs.DeleteCustomerRequest(customer_id=UNKNOWN)),
        "request_id",
    )
    await expect_invalid(
        customers.list(page_token="forged"), "page_token", reason="INVALID_PAGE_TOKEN"
    )
    await expect_error(customers.get(UNKNOWN), NOT_FOUND, "CUSTOMER_NOT_FOUND")


async def test_another_merchants_customer_is_not_found_and_untouched(
    customers: CustomerApi, other_customers: CustomerApi
) -> None:
    created = await customers.create(email="mine@example.com")

    for call in (
        other_customers.get(created.id),
        other_customers.update(created.id, name="theirs"),
        other_customers.delete(created.id),
    ):
        await expect_error(call, NOT_FOUND, "CUSTOMER_NOT_FOUND")

    assert list((await other_customers.list()).customers) == []
    assert await customers.get(created.id) == created


async def test_the_default_payment_method_is_a_card_token_of_the_merchant(
    customers: CustomerApi, other_customers: CustomerApi, vault: VaultApi, db: asyncpg.Pool
) -> None:
    token = await vault.tokenize(VISA)
    created = await customers.create(email="t@example.com")

    await expect_error(
        other_customers.create(default_payment_method=token.id), NOT_FOUND, "CARD_TOKEN_NOT_FOUND"
    )
    await expect_error(
        customers.update(created.id, default_payment_method="tok_01JD0Z8W7X6V5T4S3R2Q1P0N9M"),
        NOT_FOUND,
        "CARD_TOKEN_NOT_FOUND",
    )
    assert await _rows(db, other_customers.merchant_id) == []
    assert await customers.get(created.id) == created

    with_card = await customers.update(created.id, default_payment_method=token.id)
    cleared = await customers.update(
        created.id,
        default_payment_method="",
        update_mask=FieldMask(paths=["default_payment_method"]),
    )
    assert (with_card.default_payment_method, cleared.default_payment_method) == (token.id, "")
