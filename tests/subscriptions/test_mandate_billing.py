"""Subscriptions charged under a mandate (issue 20): each renewal merchant-initiated.

A subscription given a mandate (CreateSubscription / UpdateSubscription
``mandate_id``) renews as CreatePayment under it, off-session: the channel gets
the mandate's agreement id. A mandate it cannot use is refused when given; one
revoked later fails the renewal, which is dunned like a decline until a new
mandate pays it.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from core.app import Services
from core.domain.attempt import ChannelOperation
from paycore.v1 import mandate_service_pb2 as ms
from paycore.v1 import subscription_pb2 as sub_pb
from tests.customers.conftest import CustomerApi
from tests.mandates.conftest import MandateApi, channel_calls, scope
from tests.subscriptions.conftest import (
    START,
    Billing,
    SubscriptionApi,
    customer_with_mandate,
    eur_scope,
)
from tests.support.api import VaultApi
from tests.support.expect import (
    FAILED_PRECONDITION,
    NOT_FOUND,
    expect_error,
    expect_invalid,
)
from tests.support.requests import distinctive_pan

pytestmark = pytest.mark.asyncio

S = sub_pb.Subscription
I = sub_pb.Invoice  # noqa: E741 - the invoice's enum, as S is the subscription's


async def events(db: asyncpg.Pool, merchant_id: str, event_type: str) -> int:
    """How many events of ``event_type`` the merchant's outbox holds."""
    found: int = await db.fetchval(
        "SELECT count(*) FROM events WHERE merchant_id = $1 AND type = $2",
        merchant_id,
        event_type,
    )
    return found


async def test_a_subscription_under_a_mandate_renews_with_merchant_initiated_charges(
    subscriptions: SubscriptionApi,
    billing: Billing,
    customers: CustomerApi,
    vault: VaultApi,
    *,
    mandates: MandateApi,
    services: Services,
) -> None:
    customer_id, mandate = await customer_with_mandate(customers, vault, mandates)
    price = await subscriptions.price(1250)

    subscription = await subscriptions.subscribe(customer_id, price.id, mandate_id=mandate.id)

    assert (subscription.mandate_id, subscription.payment_method) == (mandate.id, "")
    runner = billing.runner("runner")
    await runner.run_once()
    await subscriptions.advance(START + timedelta(days=29))  # 2027-02-28: the next renewal
    await runner.run_once()
    await runner.run_once()  # nothing more is due: no charge again

    invoices = await subscriptions.invoices(subscription.id)
    assert [(i.status, i.attempts) for i in invoices] == [(I.STATUS_PAID, 1)] * 2
    assert await billing.paid() == 2500
    assert await billing.payments() == 3  # the mandate's verification and two renewals
    for invoice in invoices:
        [authorization] = channel_calls(services, invoice.payment_id)
        assert authorization.operation is ChannelOperation.AUTHORIZE
        assert authorization.merchant_initiated
        assert authorization.agreement_id == mandate.agreement_id
    assert (await subscriptions.get(subscription.id)).status == S.STATUS_ACTIVE


async def test_a_monthly_mandate_pays_each_monthly_renewal_by_the_test_clock(
    subscriptions: SubscriptionApi,
    billing: Billing,
    customers: CustomerApi,
    vault: VaultApi,
    *,
    mandates: MandateApi,
) -> None:
    # A mandate's once-a-month is judged by the merchant's clock, as the renewals are:
    # four months of the test clock pass in a second of wall time.
    monthly = eur_scope(interval=ms.MandateScope.INTERVAL_MONTH)
    customer_id, mandate = await customer_with_mandate(customers, vault, mandates, scope=monthly)
    price = await subscriptions.price(1250)
    subscription = await subscriptions.subscribe(customer_id, price.id, mandate_id=mandate.id)
    runner = billing.runner("runner")
    await runner.run_once()

    await subscriptions.advance(START + timedelta(days=100))
    await runner.run_once()

    invoices = await subscriptions.invoices(subscription.id)
    assert [(i.status, i.attempts) for i in invoices] == [(I.STATUS_PAID, 1)] * 4
    assert await billing.paid() == 4 * 1250
    assert (await subscriptions.get(subscription.id)).status == S.STATUS_ACTIVE


async def test_a_mandate_the_subscription_cannot_use_is_refused_and_nothing_changes(
    subscriptions: SubscriptionApi,
    customers: CustomerApi,
    vault: VaultApi,
    mandates: MandateApi,
    db: asyncpg.Pool,
) -> None:
    customer_id, good = await customer_with_mandate(customers, vault, mandates)
    _, strangers = await customer_with_mandate(customers, vault, mandates)
    token = await vault.tokenize(distinctive_pan())
    in_usd = await mandates.setup(customer_id, token.id, scope=scope())
    revoked = await mandates.setup(customer_id, token.id, scope=eur_scope())
    await mandates.revoke(revoked.id)
    small = await mandates.setup(customer_id, token.id, scope=eur_scope(5))
    once = await mandates.setup(
        customer_id, token.id, scope=eur_scope(usage=ms.MandateScope.USAGE_SINGLE_USE)
    )
    price = await subscriptions.price(999)
    refusals = [
        (revoked.id, FAILED_PRECONDITION, "MANDATE_REVOKED"),
        (strangers.id, FAILED_PRECONDITION, "MANDATE_CUSTOMER_MISMATCH"),
        (in_usd.id, FAILED_PRECONDITION, "MANDATE_CURRENCY_MISMATCH"),
        (small.id, FAILED_PRECONDITION, "MANDATE_AMOUNT_EXCEEDED"),
        (once.id, FAILED_PRECONDITION, "MANDATE_NOT_MULTI_USE"),
        ("man_" + "0" * 26, NOT_FOUND, "MANDATE_NOT_FOUND"),
    ]
    for mandate_id, code, reason in refusals:
        await expect_error(
            subscriptions.subscribe(customer_id, price.id, mandate_id=mandate_id), code, reason
        )
    await expect_invalid(
        subscriptions.subscribe(customer_id, price.id, mandate_id=good.id, payment_method=token.id),
        "mandate_id",
    )
    # Once a month allows no weekly renewals.
    monthly = await mandates.setup(
        customer_id, token.id, scope=eur_scope(interval=ms.MandateScope.INTERVAL_MONTH)
    )
    weekly = await subscriptions.price(999, interval=sub_pb.Price.INTERVAL_WEEK)
    await expect_error(
        subscriptions.subscribe(customer_id, weekly.id, mandate_id=monthly.id),
        FAILED_PRECONDITION,
        "MANDATE_FREQUENCY_EXCEEDED",
    )
    count = "SELECT count(*) FROM subscriptions WHERE merchant_id = $1"
    assert await db.fetchval(count, subscriptions.merchant_id) == 0

    subscription = await subscriptions.subscribe(customer_id, price.id, payment_method=token.id)
    for mandate_id, code, reason in refusals:
        await expect_error(
            subscriptions.update(subscription.id, mandate_id=mandate_id), code, reason
        )
    await expect_invalid(
        subscriptions.update(subscription.id, mandate_id=good.id, payment_method=token.id),
        "mandate_id",
    )
    assert await subscriptions.get(subscription.id) == subscription
    # A quantity the mandate does not allow is refused as well.
    under_mandate = await subscriptions.update(subscription.id, mandate_id=good.id)
    assert (under_mandate.mandate_id, under_mandate.payment_method) == (good.id, "")
    await expect_error(
        subscriptions.update(subscription.id, quantity=6),
        FAILED_PRECONDITION,
        "MANDATE_AMOUNT_EXCEEDED",
    )
    assert await subscriptions.get(subscription.id) == under_mandate


async def test_a_revoked_mandate_is_dunned_until_a_new_mandate_pays(
    subscriptions: SubscriptionApi,
    billing: Billing,
    customers: CustomerApi,
    vault: VaultApi,
    *,
    mandates: MandateApi,
    services: Services,
    db: asyncpg.Pool,
) -> None:
    customer_id, first = await customer_with_mandate(customers, vault, mandates)
    subscription = await subscriptions.subscribe(
        customer_id, (await subscriptions.price(700)).id, mandate_id=first.id
    )
    runner = billing.runner("runner")
    await runner.run_once()
    await mandates.revoke(first.id)
    renewal = START + timedelta(days=29)
    await subscriptions.advance(renewal)

    await runner.run_once()
    await runner.run_once()  # the retry is a day away: nothing is charged again now

    status = await subscriptions.membership(subscription_id=subscription.id)
    assert (status.active, status.status) == (False, S.STATUS_PAST_DUE)
    _, invoice = await subscriptions.invoices(subscription.id)
    assert (invoice.status, invoice.attempts, invoice.failure_code) == (
        I.STATUS_OPEN,
        1,
        "mandate_revoked",
    )
    assert invoice.next_attempt_time.ToDatetime(tzinfo=START.tzinfo) == renewal + timedelta(days=1)
    assert await events(db, subscriptions.merchant_id, "invoice.payment_failed") == 1
    assert await billing.payments() == 2  # the verification and the first period

    # The customer sets a card up again: the new mandate pays the open invoice at once.
    token = await vault.tokenize(distinctive_pan())
    second = await mandates.setup(customer_id, token.id, scope=eur_scope())
    updates = await events(db, subscriptions.merchant_id, "subscription.updated")
    changed = await subscriptions.update(subscription.id, mandate_id=second.id)
    assert (changed.status, changed.mandate_id) == (S.STATUS_PAST_DUE, second.id)
    assert await events(db, subscriptions.merchant_id, "subscription.updated") == updates + 1
    await runner.run_once()

    status = await subscriptions.membership(subscription_id=subscription.id)
    assert (status.active, status.status) == (True, S.STATUS_ACTIVE)
    _, invoice = await subscriptions.invoices(subscription.id)
    assert (invoice.status, invoice.attempts, invoice.failure_code) == (I.STATUS_PAID, 2, "")
    [authorization] = channel_calls(services, invoice.payment_id)
    assert authorization.agreement_id == second.agreement_id
    assert await billing.paid() == 1400


async def test_a_mandate_revoked_for_good_ends_the_subscription_by_dunning(
    subscriptions: SubscriptionApi,
    billing: Billing,
    customers: CustomerApi,
    vault: VaultApi,
    mandates: MandateApi,
) -> None:
    customer_id, mandate = await customer_with_mandate(customers, vault, mandates)
    subscription = await subscriptions.subscribe(
        customer_id,
        (await subscriptions.price(700)).id,
        mandate_id=mandate.id,
        when_dunning_ends=S.WHEN_DUNNING_ENDS_MARK_UNPAID,
    )
    await mandates.revoke(mandate.id)

    await billing.through_dunning(subscriptions)

    ended = await subscriptions.get(subscription.id)
    assert (ended.status, ended.HasField("next_billing_time")) == (S.STATUS_UNPAID, False)
    (invoice,) = await subscriptions.invoices(subscription.id)
    assert (invoice.status, invoice.attempts, invoice.failure_code) == (
        I.STATUS_UNCOLLECTIBLE,
        3,
        "mandate_revoked",
    )
    assert await billing.payments() == 1  # the verification: no charge was made
