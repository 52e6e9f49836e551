"""Dunning end to end (issue 20): a renewal that fails is retried on the schedule.

Sandbox cards decline by number (docs/ROUTING.md): 4000000000000002 with
``card_declined``, 4000000000009995 with ``insufficient_funds``. The risk
engine counts a card's declines in wall time, in which a whole test takes a
second: each test keeps to few declines per card (or amounts its rule spares).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from paycore.v1 import subscription_pb2 as sub_pb
from tests.customers.conftest import CustomerApi
from tests.subscriptions.conftest import START, Billing, SubscriptionApi, member
from tests.support.api import VaultApi
from tests.support.requests import distinctive_pan

pytestmark = pytest.mark.asyncio

S = sub_pb.Subscription
I = sub_pb.Invoice  # noqa: E741 - the invoice's enum, as S is the subscription's
DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"


async def test_a_failed_renewal_goes_past_due_and_recovers_with_a_working_card(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id = await member(customers, vault, DECLINED)
    subscription = await subscriptions.subscribe(customer_id, (await subscriptions.price(700)).id)
    runner = billing.runner("runner")
    await runner.run_once()

    status = await subscriptions.membership(subscription_id=subscription.id)
    assert (status.active, status.status) == (False, S.STATUS_PAST_DUE)
    (invoice,) = await subscriptions.invoices(subscription.id)
    assert (invoice.status, invoice.attempts, invoice.failure_code) == (
        I.STATUS_OPEN,
        1,
        "card_declined",
    )
    assert invoice.next_attempt_time.ToDatetime(tzinfo=START.tzinfo) == START + timedelta(days=1)

    # Not yet due: nothing happens. Then the first retry, a day after the failure, fails too.
    await subscriptions.advance(START + timedelta(hours=23))
    await runner.run_once()
    assert (await subscriptions.invoices(subscription.id))[0].attempts == 1
    await subscriptions.advance(START + timedelta(days=1, minutes=1))
    await runner.run_once()
    (invoice,) = await subscriptions.invoices(subscription.id)
    assert invoice.attempts == 2
    assert invoice.next_attempt_time.ToDatetime(tzinfo=START.tzinfo) == START + timedelta(days=3)
    assert not (await subscriptions.membership(subscription_id=subscription.id)).active

    good = await vault.tokenize(distinctive_pan())
    changed = await subscriptions.update(subscription.id, payment_method=good.id)
    assert changed.status == S.STATUS_PAST_DUE  # the retry is billing's, at once
    await runner.run_once()

    status = await subscriptions.membership(subscription_id=subscription.id)
    assert (status.active, status.status) == (True, S.STATUS_ACTIVE)
    (invoice,) = await subscriptions.invoices(subscription.id)
    assert (invoice.status, invoice.attempts, invoice.failure_code) == (I.STATUS_PAID, 3, "")
    assert await billing.paid() == 700
    # Recovered: the next renewal is the period's end, a month after the start.
    assert _day(changed.current_period_end) == "2027-02-28"


def _day(message: object) -> str:
    return str(message.ToDatetime().date())  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("when_dunning_ends", "final"),
    [
        (S.WHEN_DUNNING_ENDS_UNSPECIFIED, S.STATUS_CANCELED),
        (S.WHEN_DUNNING_ENDS_MARK_UNPAID, S.STATUS_UNPAID),
    ],
)
async def test_dunning_that_gives_up_ends_the_subscription_as_the_merchant_chose(
    subscriptions: SubscriptionApi,
    billing: Billing,
    customers: CustomerApi,
    vault: VaultApi,
    *,
    when_dunning_ends: int,
    final: int,
) -> None:
    customer_id = await member(customers, vault, INSUFFICIENT_FUNDS)
    price = await subscriptions.price(1500)
    subscription = await subscriptions.subscribe(
        customer_id, price.id, when_dunning_ends=when_dunning_ends
    )
    # A shorter schedule: charged at the start, then after 1 and 2 days.
    runner = await billing.through_dunning(subscriptions)

    ended = await subscriptions.get(subscription.id)
    assert (ended.status, ended.active, ended.HasField("next_billing_time")) == (
        final,
        False,
        False,
    )
    (invoice,) = await subscriptions.invoices(subscription.id)
    assert (invoice.status, invoice.attempts) == (I.STATUS_UNCOLLECTIBLE, 3)
    assert invoice.failure_code == "insufficient_funds"
    # Nothing more is charged, however far the clock goes.
    await subscriptions.advance(START + timedelta(days=90))
    await runner.run_once()
    assert await billing.payments() == 3 and await billing.paid() == 0
    assert len(await subscriptions.invoices(subscription.id)) == 1
