"""How a payment's customer_id maps to customers (core/domain/customers.py), end to end."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc

from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc
from tests.customers.conftest import CustomerApi
from tests.support.api import Api
from tests.support.expect import NOT_FOUND, expect_error
from tests.support.requests import create_request, new_request_id
from tests.support.row_locks import still_waiting

UNKNOWN = "cus_01JD0Z8W7X6V5T4S3R2Q1P0N9M"


async def _payments(db: asyncpg.Pool, merchant_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM payments WHERE merchant_id = $1", merchant_id
    )
    return count


async def test_a_payment_names_a_customer_of_the_merchant(api: Api, customers: CustomerApi) -> None:
    customer = await customers.create(email="payer@example.com")

    payment = await api.create(customer_id=customer.id)

    assert payment.customer_id == customer.id
    assert [p.id for p in (await api.list(customer_id=customer.id)).payments] == [payment.id]


async def test_a_payment_naming_an_unknown_deleted_or_foreign_customer_is_refused(
    api: Api, customers: CustomerApi, other_customers: CustomerApi, db: asyncpg.Pool
) -> None:
    deleted = await customers.create(email="old@example.com")
    await customers.delete(deleted.id)
    foreign = await other_customers.create(email="theirs@example.com")

    for customer_id in (UNKNOWN, deleted.id, foreign.id):
        await expect_error(api.create(customer_id=customer_id), NOT_FOUND, "CUSTOMER_NOT_FOUND")

    assert await _payments(db, api.merchant_id) == 0


async def test_a_refused_payment_replays_its_refusal(
    api: Api, customers: CustomerApi, db: asyncpg.Pool
) -> None:
    request = create_request(customer_id=UNKNOWN)

    await expect_error(api.call("CreatePayment", request), NOT_FOUND, "CUSTOMER_NOT_FOUND")
    await expect_error(api.call("CreatePayment", request), NOT_FOUND, "CUSTOMER_NOT_FOUND")

    assert await _payments(db, api.merchant_id) == 0


async def test_other_customer_ids_stay_the_merchants_free_text(api: Api) -> None:
    # Not the shape of a paycore customer id: kept as before customers existed,
    # including another provider's ids that happen to begin with cus_.
    for reference in ("alice-42", "cus_NffrFeUfNV2Hib", "cus_"):
        payment = await api.create(customer_id=reference)
        assert payment.customer_id == reference


async def test_payments_keep_the_id_of_a_customer_deleted_after_them(
    api: Api, customers: CustomerApi
) -> None:
    customer = await customers.create(email="leaving@example.com")
    payment = await api.create(customer_id=customer.id)

    await customers.delete(customer.id)

    assert (await api.get(payment.id)).customer_id == customer.id


async def test_a_payment_waits_for_a_concurrent_delete_and_is_then_refused(
    api: Api, customers: CustomerApi, db: asyncpg.Pool
) -> None:
    customer = await customers.create(email="racing@example.com")

    # A delete in flight (as DeleteCustomer writes it): the payment must not slip past it.
    async with db.acquire() as connection, connection.transaction():
        await connection.execute(
            "UPDATE customers SET deleted = true WHERE merchant_id = $1 AND id = $2",
            customers.merchant_id,
            customer.id,
        )
        paying = await still_waiting(api.create(customer_id=customer.id))

    await expect_error(paying, NOT_FOUND, "CUSTOMER_NOT_FOUND")
    assert await _payments(db, api.merchant_id) == 0


async def test_a_wallet_names_a_customer_by_the_same_rule(
    grpc_channel: grpc.aio.Channel,
    customers: CustomerApi,
    other_customers: CustomerApi,
    db: asyncpg.Pool,
) -> None:
    accounts = account_service_pb2_grpc.AccountServiceStub(grpc_channel)
    customer = await customers.create(email="saver@example.com")
    foreign = await other_customers.create(email="theirs@example.com")

    def open_wallet(customer_id: str) -> Any:
        request = acc.CreateAccountRequest(
            request_id=new_request_id(), currency_code="USD", customer_id=customer_id
        )
        return accounts.CreateAccount(request, metadata=customers.metadata)

    opened = await open_wallet(customer.id)
    kept = await open_wallet("cus_NffrFeUfNV2Hib")
    await expect_error(open_wallet(foreign.id), NOT_FOUND, "CUSTOMER_NOT_FOUND")

    assert (opened.account.customer_id, kept.account.customer_id) == (
        customer.id,
        "cus_NffrFeUfNV2Hib",
    )
    wallets = await db.fetch(
        "SELECT customer_id FROM ledger_accounts WHERE merchant_id = $1 AND customer_id <> ''",
        customers.merchant_id,
    )
    assert sorted(w["customer_id"] for w in wallets) == sorted([customer.id, "cus_NffrFeUfNV2Hib"])
