"""Billing end to end (issue 20): over gRPC, real PostgreSQL and Redis, the payment path.

Each test's merchant has a test clock (starting at ``START``, a January 31);
billing runners are run the way the server's loop runs them. Subscriptions
start without a trial, so the first invoice is charged at the start: a year of
monthly billing, up to just before the anniversary, is exactly 12 invoices (the
13th, the second year's first, is due at the anniversary itself).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from core.app import Services
from core.domain.commands import CreatePayment
from core.domain.payment import Payment
from core.ports.subscriptions import DueSubscription
from core.service.execution import Encoder, Reply, RequestIdentity
from paycore.v1 import subscription_pb2 as sub_pb
from tests.customers.conftest import CustomerApi
from tests.ledger.invariants import assert_ledger_consistent
from tests.mandates.conftest import MandateApi
from tests.subscriptions.conftest import (
    START,
    Billing,
    SubscriptionApi,
    customer_with_mandate,
    member,
)
from tests.support.api import VaultApi
from tests.support.requests import distinctive_pan

pytestmark = pytest.mark.asyncio

ACTIVE = sub_pb.Subscription.STATUS_ACTIVE
PAID = sub_pb.Invoice.STATUS_PAID
OPEN = sub_pb.Invoice.STATUS_OPEN
A_YEAR_LATER = START.replace(year=START.year + 1)


def _day(message: Any) -> str:
    return str(message.ToDatetime().date())


async def test_a_year_of_monthly_billing_is_twelve_paid_invoices_and_the_ledger_agrees(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id = await member(customers, vault)
    price = await subscriptions.price(999)
    subscription = await subscriptions.subscribe(customer_id, price.id)
    runner = billing.runner("runner")
    period_ends = []
    renewal = START
    for _ in range(12):
        # An hour after each renewal falls due: billed, and the member active throughout.
        await subscriptions.advance(renewal + timedelta(hours=1))
        await runner.run_once()
        status = await subscriptions.membership(subscription_id=subscription.id)
        assert (status.active, status.status) == (True, ACTIVE)
        period_ends.append(_day(status.current_period_end))
        renewal = status.current_period_end.ToDatetime(tzinfo=START.tzinfo)
    await subscriptions.advance(A_YEAR_LATER - timedelta(minutes=1))
    await runner.run_once()

    invoices = await subscriptions.invoices(subscription.id)
    assert len(invoices) == 12
    assert all(i.status == PAID and i.attempts == 1 for i in invoices)
    assert [i.amount.units * 100 + i.amount.nanos // 10_000_000 for i in invoices] == [999] * 12
    assert len({i.payment_id for i in invoices}) == 12
    # Anchored on January 31: the periods end on the last day of shorter months.
    assert period_ends[:4] == ["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"]
    assert period_ends[-1] == "2028-01-31"
    assert await billing.paid() == 12 * 999
    assert await billing.payments() == 12
    await assert_ledger_consistent(billing.pool, billing.merchant_id)


async def test_two_runners_catching_up_a_year_bill_each_period_exactly_once(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    # Two customers, two cards: risk would question 24 charges of one card in a second.
    price = await subscriptions.price(500)
    first = await subscriptions.subscribe(await member(customers, vault), price.id)
    second = await subscriptions.subscribe(await member(customers, vault), price.id, quantity=2)
    await subscriptions.advance(A_YEAR_LATER - timedelta(minutes=1))

    await asyncio.gather(billing.runner("a").run_once(), billing.runner("b").run_once())
    await billing.runner("c").run_once()  # whatever the two left (nothing, if all went well)

    for subscription, cents in ((first, 500), (second, 1000)):
        invoices = await subscriptions.invoices(subscription.id)
        assert len({_day(i.period_start) for i in invoices}) == len(invoices) == 12
        assert all(i.status == PAID and i.attempts == 1 for i in invoices)
        assert all(i.amount.units * 100 == cents for i in invoices)
    assert await billing.payments() == 24
    assert await billing.paid() == 12 * 500 + 12 * 1000
    await assert_ledger_consistent(billing.pool, billing.merchant_id)


class _CrashError(Exception):
    """The runner dies here: after the charge, before its outcome is recorded."""


@pytest.mark.parametrize("under_mandate", [False, True])
@pytest.mark.parametrize("switch_card", [False, True])
async def test_a_runner_that_dies_after_charging_is_replayed_not_charged_twice(
    subscriptions: SubscriptionApi,
    billing: Billing,
    services: Services,
    customers: CustomerApi,
    vault: VaultApi,
    *,
    mandates: MandateApi,
    under_mandate: bool,
    switch_card: bool,
) -> None:
    # Under a mandate as with a card: the replay's fingerprint is the first charge's,
    # even when the merchant switched the subscription to another card in between
    # (the request_id was spent on the first card: its money moved).
    fields: dict[str, str] = {}
    if under_mandate:
        customer_id, mandate = await customer_with_mandate(customers, vault, mandates)
        fields["mandate_id"] = mandate.id
    else:
        customer_id = await member(customers, vault)
    price = await subscriptions.price(800)
    subscription = await subscriptions.subscribe(customer_id, price.id, **fields)
    before = await billing.payments()  # a mandate's verification
    charge = services.payments.create_payment

    async def charge_then_die(
        command: CreatePayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        await charge(command, request, encoder)
        raise _CrashError

    doomed = billing.runner("doomed")
    doomed._charge = charge_then_die  # the crash point; nothing else changes
    with pytest.raises(_CrashError):
        # This subscription's step (a runner's batch may hold other tests' merchants too).
        await doomed.bill(DueSubscription(billing.merchant_id, subscription.id))
    (invoice,) = await subscriptions.invoices(subscription.id)
    assert (invoice.status, invoice.attempts) == (OPEN, 0)  # charged, nothing recorded
    assert await billing.payments() == before + 1
    if switch_card:
        other = await vault.tokenize(distinctive_pan())
        await subscriptions.update(subscription.id, payment_method=other.id)

    await billing.runner("survivor").run_once()

    (invoice,) = await subscriptions.invoices(subscription.id)
    assert (invoice.status, invoice.attempts) == (PAID, 1)
    assert await billing.payments() == before + 1 and await billing.paid() == 800
    assert (await subscriptions.membership(subscription_id=subscription.id)).active


async def test_a_charge_in_flight_when_canceled_still_pays_its_invoice(
    subscriptions: SubscriptionApi,
    billing: Billing,
    services: Services,
    customers: CustomerApi,
    vault: VaultApi,
) -> None:
    customer_id = await member(customers, vault)
    subscription = await subscriptions.subscribe(customer_id, (await subscriptions.price(300)).id)
    charge = services.payments.create_payment

    async def cancel_during_charge(
        command: CreatePayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        reply = await charge(command, request, encoder)
        await subscriptions.change("CancelSubscription", subscription.id)  # voids the invoice
        return reply

    runner = billing.runner("runner")
    runner._charge = cancel_during_charge  # the cancel lands between charge and record
    await runner.bill(DueSubscription(billing.merchant_id, subscription.id))

    (invoice,) = await subscriptions.invoices(subscription.id)
    assert (invoice.status, invoice.attempts) == (PAID, 1)  # the money moved: paid, not void
    assert (await subscriptions.get(subscription.id)).status == sub_pb.Subscription.STATUS_CANCELED
    assert await billing.paid() == 300


async def test_a_free_period_is_paid_without_a_charge_once(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id = await member(customers, vault)
    subscription = await subscriptions.subscribe(customer_id, (await subscriptions.price(0)).id)
    await subscriptions.advance(START + timedelta(days=40))
    await asyncio.gather(billing.runner("a").run_once(), billing.runner("b").run_once())

    invoices = await subscriptions.invoices(subscription.id)
    assert [(i.status, i.attempts, i.payment_id) for i in invoices] == [(PAID, 0, "")] * 2
    assert (await subscriptions.membership(subscription_id=subscription.id)).active
    assert await billing.payments() == 0
