"""The Python client's customer calls against a real paycore (PostgreSQL, Redis)."""

from __future__ import annotations

import pytest

from paycore.client import AsyncPaycoreClient, NotFoundError, card, money
from tests.support.auth import Metadata
from tests.support.requests import VISA
from tests.support.serving import Serving


@pytest.fixture
async def client(serving: Serving, metadata: Metadata) -> AsyncPaycoreClient:
    """The async client as the test's merchant (the sync one would block the server's loop)."""
    api_key = dict(metadata)["authorization"].removeprefix("Bearer ")
    return AsyncPaycoreClient(serving.target, api_key=api_key, channel=serving.channel)


async def test_the_client_creates_updates_lists_and_deletes_customers(
    client: AsyncPaycoreClient,
) -> None:
    ada = await client.create_customer(email="ada@example.com", name="Ada")
    bob = await client.create_customer(email="bob@example.com", metadata={"tier": "gold"})

    renamed = await client.update_customer(ada.id, name="Ada Lovelace")
    assert (renamed.email, renamed.name) == ("ada@example.com", "Ada Lovelace")
    assert await client.get_customer(ada.id) == renamed
    assert [c.id async for c in client.iter_customers(page_size=1)] == [bob.id, ada.id]
    assert [c.id for c in (await client.list_customers(email="bob@example.com")).customers] == [
        bob.id
    ]
    payment = await client.create_payment(
        amount=money(1000, "USD"), payment_method=card(VISA, 12, 2030), customer_id=bob.id
    )
    assert payment.customer_id == bob.id

    await client.delete_customer(bob.id)
    with pytest.raises(NotFoundError):
        await client.get_customer(bob.id)


async def test_update_customer_needs_a_field(client: AsyncPaycoreClient) -> None:
    with pytest.raises(ValueError, match="at least one"):
        await client.update_customer("cus_01JD0Z8W7X6V5T4S3R2Q1P0N9M")


async def test_the_client_tokenizes_a_card_for_a_customer(client: AsyncPaycoreClient) -> None:
    ada = await client.create_customer(email="ada@example.com")

    token = await client.tokenize_card(card(VISA, 12, 2030, cvc="123"), customer_id=ada.id)

    assert token.customer_id == ada.id
