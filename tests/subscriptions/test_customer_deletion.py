"""A deleted customer's subscriptions end with it (issue 20): no renewal, no membership."""

from __future__ import annotations

from datetime import timedelta

import pytest

from paycore.v1 import subscription_pb2 as sub_pb
from tests.customers.conftest import CustomerApi
from tests.subscriptions.conftest import START, Billing, SubscriptionApi, member
from tests.support.api import VaultApi

pytestmark = pytest.mark.asyncio

S = sub_pb.Subscription
I = sub_pb.Invoice  # noqa: E741 - the invoice's enum, as S is the subscription's


async def _events(billing: Billing, event_type: str) -> int:
    count: int = await billing.pool.fetchval(
        "SELECT count(*) FROM events WHERE merchant_id = $1 AND type = $2",
        billing.merchant_id,
        event_type,
    )
    return count


async def test_deleting_a_customer_cancels_its_subscriptions_and_their_billing(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id = await member(customers, vault)
    staying = await member(customers, vault)
    price = await subscriptions.price(700)
    active = await subscriptions.subscribe(customer_id, price.id)
    paused = await subscriptions.subscribe(customer_id, price.id)
    await subscriptions.change("PauseSubscription", paused.id)
    others = await subscriptions.subscribe(staying, price.id)
    runner = billing.runner("runner")
    await runner.run_once()  # the first periods of the active two
    paid_before = await billing.payments()

    await customers.delete(customer_id)

    for subscription in (active, paused):
        ended = await subscriptions.get(subscription.id)
        assert (ended.status, ended.HasField("cancel_time")) == (S.STATUS_CANCELED, True)
        status = await subscriptions.membership(subscription_id=subscription.id)
        assert (status.active, status.status) == (False, S.STATUS_CANCELED)
    assert await _events(billing, "subscription.canceled") == 2
    # Billing charges the gone customer no more; the other customer renews as before.
    await subscriptions.advance(START + timedelta(days=40))
    await runner.run_once()
    assert [i.status for i in await subscriptions.invoices(active.id)] == [I.STATUS_PAID]
    assert await subscriptions.invoices(paused.id) == []
    assert [i.status for i in await subscriptions.invoices(others.id)] == [I.STATUS_PAID] * 2
    assert await billing.payments() == paid_before + 1
    assert (await subscriptions.get(others.id)).status == S.STATUS_ACTIVE
