"""Customer use cases, run by the real request executor over in-memory adapters.

core/service/customers.py: each change runs once per request_id and leaves nothing
when refused; a payment's or wallet's customer_id is checked only when it is a customer id.
"""

from __future__ import annotations

import pytest

from core.domain import ids
from core.domain.customers import CreateCustomer, Customer, CustomerQuery, UpdateCustomer
from core.domain.errors import NotFoundError
from core.service.customers import CustomerService, check_customer_reference
from core.service.execution import Encoder, RequestExecutor, RequestIdentity
from tests.support.memory import MemoryRequestGate
from tests.support.memory_repository import MemoryRepository
from tests.support.requests import new_request_id

MERCHANT = "m_customers"

ENCODER: Encoder[Customer] = Encoder(
    success=lambda customer: customer.id.encode(),
    failure=lambda error: error.reason.name.encode(),
)
"""Replies as the customer's id or the refusal's reason (protobuf is not under test)."""


@pytest.fixture
def customers(
    executor: RequestExecutor, repository: MemoryRepository, gate: MemoryRequestGate
) -> CustomerService:
    """The customer use cases over the in-memory adapters."""
    return CustomerService(executor=executor, reads=repository, gate=gate)


def identity(command: object, request_id: str | None = None) -> RequestIdentity:
    """A request's identity: its request_id, and a fingerprint of what it asks."""
    return RequestIdentity(request_id or new_request_id(), repr(command).encode())


async def _create(customers: CustomerService, **fields: str) -> str:
    command = CreateCustomer(MERCHANT, **fields)  # type: ignore[arg-type]
    reply = await customers.create_customer(command, identity(command), ENCODER)
    assert reply.ok, reply.body
    return reply.body.decode()


async def test_a_create_runs_once_per_request_id(
    customers: CustomerService, repository: MemoryRepository
) -> None:
    command = CreateCustomer(MERCHANT, email="a@example.com")
    request = identity(command)

    first = await customers.create_customer(command, request, ENCODER)
    again = await customers.create_customer(command, request, ENCODER)

    assert first == again and first.ok
    assert [c.id for c in repository.state.customers.values()] == [first.body.decode()]


async def test_a_default_card_token_the_merchant_lacks_is_refused_and_stores_nothing(
    customers: CustomerService, repository: MemoryRepository
) -> None:
    command = CreateCustomer(MERCHANT, default_payment_method=ids.new_id(ids.TOKEN))

    reply = await customers.create_customer(command, identity(command), ENCODER)

    assert (reply.ok, reply.body) == (False, b"CARD_TOKEN_NOT_FOUND")
    assert repository.state.customers == {}


async def test_a_deleted_customer_is_gone_for_reads_updates_and_references(
    customers: CustomerService, repository: MemoryRepository
) -> None:
    customer_id = await _create(customers, email="gone@example.com")

    deleted = await customers.delete_customer(MERCHANT, customer_id, identity("d"), ENCODER)
    update = UpdateCustomer(MERCHANT, customer_id, name="x")
    updated = await customers.update_customer(update, identity(update), ENCODER)

    assert deleted.ok and (updated.ok, updated.body) == (False, b"CUSTOMER_NOT_FOUND")
    with pytest.raises(NotFoundError):
        await customers.get_customer(MERCHANT, customer_id)
    assert await customers.list_customers(CustomerQuery(MERCHANT, 10)) == ([], False)
    async with repository.transaction() as tx:
        with pytest.raises(NotFoundError):
            await check_customer_reference(tx, MERCHANT, customer_id)


async def test_a_free_text_reference_is_not_looked_up(repository: MemoryRepository) -> None:
    async with repository.transaction() as tx:
        for reference in ("", "alice", "cus_NffrFeUfNV2Hib"):
            await check_customer_reference(tx, MERCHANT, reference)  # nothing to find: no error


async def test_a_listing_pages_newest_first(customers: CustomerService) -> None:
    made = [await _create(customers, email=f"c{i}@example.com") for i in range(3)]

    page, more = await customers.list_customers(CustomerQuery(MERCHANT, 2))
    rest, after = await customers.list_customers(CustomerQuery(MERCHANT, 2, before_id=page[-1].id))

    assert ([c.id for c in page], more) == ([made[2], made[1]], True)
    assert ([c.id for c in rest], after) == ([made[0]], False)
