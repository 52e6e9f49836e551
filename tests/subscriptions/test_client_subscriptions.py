"""The Python client's subscription calls against a real paycore (PostgreSQL, Redis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paycore.client import AsyncPaycoreClient, FailedPreconditionError, card, money
from paycore.v1 import subscription_pb2 as sub_pb
from tests.mandates.conftest import scope
from tests.support.auth import Metadata
from tests.support.requests import distinctive_pan
from tests.support.serving import Serving

pytestmark = pytest.mark.asyncio

START = datetime(2027, 5, 31, tzinfo=UTC)


@pytest.fixture
async def client(serving: Serving, metadata: Metadata) -> AsyncPaycoreClient:
    """The async client as the test's merchant (the sync one would block the server's loop)."""
    api_key = dict(metadata)["authorization"].removeprefix("Bearer ")
    return AsyncPaycoreClient(serving.target, api_key=api_key, channel=serving.channel)


async def test_the_client_prices_subscribes_changes_and_reads_membership(
    client: AsyncPaycoreClient,
) -> None:
    assert await client.advance_test_clock(START) == START
    token = await client.tokenize_card(card(distinctive_pan(), 12, 2031))
    customer = await client.create_customer(default_payment_method=token.id)
    price = await client.create_price("Gold", money(990, "EUR"), "month", trial_days=7)
    assert await client.get_price(price.id) == price
    assert list((await client.list_prices(page_size=1)).prices) == [price]
    subscription = await client.create_subscription(customer.id, price.id, quantity=2)
    assert subscription.status == sub_pb.Subscription.STATUS_TRIALING
    assert subscription.current_period_end.ToDatetime(tzinfo=UTC) == START + timedelta(days=7)

    status = await client.get_membership_status(customer_id=customer.id)
    assert (status.active, status.subscription_id) == (True, subscription.id)
    changed = await client.update_subscription(subscription.id, quantity=3)
    assert changed.quantity == 3 and changed.pending_proration == 0  # trialing: no proration
    paused = await client.pause_subscription(subscription.id)
    assert not paused.active
    resumed = await client.resume_subscription(subscription.id)
    assert resumed.status == sub_pb.Subscription.STATUS_ACTIVE
    canceled = await client.cancel_subscription(subscription.id, at_period_end=True)
    assert canceled.cancel_at_period_end
    assert (await client.get_subscription(subscription.id)) == canceled
    assert (await client.list_invoices(subscription.id)).invoices == []

    with pytest.raises(FailedPreconditionError):
        await client.advance_test_clock(START - timedelta(days=1))
    with pytest.raises(ValueError, match="interval"):
        await client.create_price("Gold", money(990, "EUR"), "fortnight")


async def test_the_client_subscribes_under_a_mandate_and_switches_to_a_card(
    client: AsyncPaycoreClient,
) -> None:
    token = await client.tokenize_card(card(distinctive_pan(), 12, 2031))
    customer = await client.create_customer()
    mandate = await client.setup_payment_method(
        customer.id, token.id, scope=scope(max_amount=money(5000, "EUR"))
    )
    price = await client.create_price("Gold", money(990, "EUR"), "month")

    subscription = await client.create_subscription(customer.id, price.id, mandate_id=mandate.id)
    assert (subscription.mandate_id, subscription.payment_method) == (mandate.id, "")
    by_card = await client.update_subscription(subscription.id, payment_method=token.id)
    assert (by_card.mandate_id, by_card.payment_method) == ("", token.id)
    again = await client.update_subscription(subscription.id, mandate_id=mandate.id)
    assert (again.mandate_id, again.payment_method) == (mandate.id, "")
