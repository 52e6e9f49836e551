"""SubscriptionService end to end: changes, membership, events, and refusals that change nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from core.app import Services
from core.domain.errors import IllegalTransitionError, Reason
from core.service.execution import Encoder, RequestIdentity
from core.service.subscriptions import SubscriptionService
from core.storage.subscriptions import PostgresSubscriptionReads
from paycore.v1 import event_service_pb2 as ev
from paycore.v1 import event_service_pb2_grpc
from paycore.v1 import subscription_pb2 as sub_pb
from paycore.v1 import subscription_service_pb2 as pb
from tests.customers.conftest import CustomerApi
from tests.subscriptions.conftest import START, Billing, SubscriptionApi, member, stamp
from tests.support.api import VaultApi
from tests.support.auth import Metadata
from tests.support.expect import expect_error, expect_invalid
from tests.support.requests import build, distinctive_pan, money, new_request_id

pytestmark = pytest.mark.asyncio

S = sub_pb.Subscription
NOT_FOUND = grpc.StatusCode.NOT_FOUND
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


def _cents(message: Any) -> int:
    return int(message.units * 100 + message.nanos // 10_000_000)


async def test_a_mid_period_upgrade_is_prorated_onto_the_next_invoice(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id = await member(customers, vault)
    subscription = await subscriptions.subscribe(customer_id, (await subscriptions.price(2800)).id)
    runner = billing.runner("runner")
    await runner.run_once()  # February: 28 days, paid at the start

    # Halfway through February, from one unit to three: two more units for half a period.
    await subscriptions.advance(START + timedelta(days=14))
    upgraded = await subscriptions.update(subscription.id, quantity=3)
    assert (upgraded.quantity, upgraded.pending_proration) == (3, 2800)
    await subscriptions.advance(START.replace(month=2, day=28) + timedelta(hours=1))
    await runner.run_once()

    first, second = await subscriptions.invoices(subscription.id)
    assert (_cents(first.amount), _cents(second.amount)) == (2800, 3 * 2800 + 2800)
    assert (await subscriptions.get(subscription.id)).pending_proration == 0
    assert await billing.paid() == 2800 + 4 * 2800


async def test_cancel_at_period_end_keeps_the_member_until_the_period_ends(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    subscription = await subscriptions.subscribe(
        await member(customers, vault), (await subscriptions.price(1200)).id
    )
    runner = billing.runner("runner")
    await runner.run_once()
    flagged = await subscriptions.change("CancelSubscription", subscription.id, at_period_end=True)
    assert (flagged.status, flagged.cancel_at_period_end, flagged.active) == (
        S.STATUS_ACTIVE,
        True,
        True,
    )

    await subscriptions.advance(START + timedelta(days=40))
    await runner.run_once()

    status = await subscriptions.membership(subscription_id=subscription.id)
    assert (status.active, status.status) == (False, S.STATUS_CANCELED)
    assert len(await subscriptions.invoices(subscription.id)) == 1  # no renewal
    assert await billing.paid() == 1200


async def test_pause_bills_nothing_and_resume_starts_a_new_period_at_once(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    subscription = await subscriptions.subscribe(
        await member(customers, vault), (await subscriptions.price(600)).id
    )
    runner = billing.runner("runner")
    await runner.run_once()
    paused = await subscriptions.change("PauseSubscription", subscription.id)
    assert (paused.status, paused.active) == (S.STATUS_PAUSED, False)

    resume_at = START + timedelta(days=75)
    await subscriptions.advance(resume_at)
    await runner.run_once()
    assert len(await subscriptions.invoices(subscription.id)) == 1  # nothing while paused
    resumed = await subscriptions.change("ResumeSubscription", subscription.id)
    await runner.run_once()

    status = await subscriptions.membership(subscription_id=subscription.id)
    assert (status.active, status.status) == (True, S.STATUS_ACTIVE)
    _, second = await subscriptions.invoices(subscription.id)
    assert second.period_start == resumed.current_period_start == stamp(resume_at)
    assert await billing.paid() == 1200


async def test_cancel_now_voids_the_open_invoice_and_billing_stops(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    declining = await member(customers, vault, "4000000000000002")
    subscription = await subscriptions.subscribe(declining, (await subscriptions.price(900)).id)
    await billing.runner("runner").run_once()  # declined: past_due, invoice open

    canceled = await subscriptions.change("CancelSubscription", subscription.id)
    await subscriptions.advance(START + timedelta(days=30))
    await billing.runner("runner").run_once()

    assert (canceled.status, canceled.HasField("cancel_time")) == (S.STATUS_CANCELED, True)
    (invoice,) = await subscriptions.invoices(subscription.id)
    assert invoice.status == sub_pb.Invoice.STATUS_VOID
    assert await billing.payments() == 1


async def test_a_subscription_pays_with_its_customers_card_not_anothers(
    subscriptions: SubscriptionApi, customers: CustomerApi, vault: VaultApi
) -> None:
    owner = (await customers.create(email="owner@example.com")).id
    theirs = await vault.tokenize(distinctive_pan(), customer_id=owner)
    customer_id = await member(customers, vault)
    price = await subscriptions.price(100)
    mismatch = (grpc.StatusCode.FAILED_PRECONDITION, "CARD_TOKEN_CUSTOMER_MISMATCH")

    await expect_error(
        subscriptions.subscribe(customer_id, price.id, payment_method=theirs.id), *mismatch
    )
    listed = await subscriptions.call(
        "ListSubscriptions", pb.ListSubscriptionsRequest(customer_id=customer_id)
    )
    assert list(listed.subscriptions) == []
    subscription = await subscriptions.subscribe(customer_id, price.id)
    await expect_error(subscriptions.update(subscription.id, payment_method=theirs.id), *mismatch)
    assert await subscriptions.get(subscription.id) == subscription

    owners = await subscriptions.subscribe(owner, price.id, payment_method=theirs.id)
    assert owners.payment_method == theirs.id


async def test_a_customers_membership_is_its_active_subscription(
    subscriptions: SubscriptionApi, billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id = await member(customers, vault)
    none_yet = await subscriptions.membership(customer_id=customer_id)
    assert (none_yet.active, none_yet.subscription_id, none_yet.status) == (False, "", 0)
    price = await subscriptions.price(100)
    older = await subscriptions.subscribe(customer_id, price.id)
    newer = await subscriptions.subscribe(customer_id, price.id)
    await subscriptions.change("CancelSubscription", newer.id)

    status = await subscriptions.membership(customer_id=customer_id)
    assert (status.active, status.subscription_id) == (True, older.id)
    await subscriptions.change("CancelSubscription", older.id)
    status = await subscriptions.membership(customer_id=customer_id)
    assert (status.active, status.status) == (False, S.STATUS_CANCELED)
    assert status.subscription_id == newer.id  # none active: the newest answers

    page = await subscriptions.call(
        "ListSubscriptions", pb.ListSubscriptionsRequest(customer_id=customer_id, page_size=1)
    )
    assert [s.id for s in page.subscriptions] == [newer.id] and page.next_page_token
    rest = await subscriptions.call(
        "ListSubscriptions",
        pb.ListSubscriptionsRequest(customer_id=customer_id, page_token=page.next_page_token),
    )
    assert [s.id for s in rest.subscriptions] == [older.id] and not rest.next_page_token


async def test_billing_and_changes_are_announced_on_the_event_stream(
    subscriptions: SubscriptionApi,
    *,
    billing: Billing,
    customers: CustomerApi,
    vault: VaultApi,
    grpc_channel: grpc.aio.Channel,
    metadata: Metadata,
) -> None:
    good = await member(customers, vault)
    bad = await member(customers, vault, "4000000000009995")
    price = await subscriptions.price(1500)
    paying = await subscriptions.subscribe(good, price.id)
    failing = await subscriptions.subscribe(bad, price.id)
    await billing.runner("runner").run_once()
    await subscriptions.change("CancelSubscription", paying.id)

    types = [
        "subscription.created",
        "subscription.updated",
        "subscription.canceled",
        "invoice.created",
        "invoice.paid",
        "invoice.payment_failed",
    ]
    stream = event_service_pb2_grpc.EventServiceStub(grpc_channel).StreamEvents(
        ev.StreamEventsRequest(event_types=types), metadata=metadata
    )
    events: list[ev.Event] = []

    async def read_eight() -> None:
        async for message in stream:
            events.append(message.event)
            if len(events) == 8:
                return

    try:
        await asyncio.wait_for(read_eight(), timeout=10)
    finally:
        stream.cancel()

    def about(subscription_id: str) -> list[str]:
        return [
            e.type
            for e in events
            if subscription_id in (e.subscription.id, e.invoice.subscription_id)
        ]

    assert about(paying.id) == [
        "subscription.created",
        "invoice.created",
        "invoice.paid",
        "subscription.canceled",
    ]
    assert about(failing.id) == [
        "subscription.created",
        "invoice.created",
        "invoice.payment_failed",
        "subscription.updated",
    ]
    failed = next(e for e in events if e.type == "invoice.payment_failed")
    assert (failed.invoice.failure_code, failed.invoice.attempts) == ("insufficient_funds", 1)
    updated = next(e for e in events if e.type == "subscription.updated")
    assert updated.subscription.status == S.STATUS_PAST_DUE and not updated.HasField("payment")


async def test_bad_requests_are_refused_precisely_and_change_nothing(
    subscriptions: SubscriptionApi,
    customers: CustomerApi,
    vault: VaultApi,
    other_subscriptions: SubscriptionApi,
) -> None:
    customer_id = await member(customers, vault)
    price = await subscriptions.price(500)
    subscription = await subscriptions.subscribe(customer_id, price.id)

    bad_price = build(
        pb.CreatePriceRequest,
        product_name="",
        amount=money(1, 0, "EURO"),
        interval=sub_pb.Price.INTERVAL_UNSPECIFIED,
        interval_count=400,
        trial_days=-1,
    )
    await expect_invalid(
        subscriptions.call("CreatePrice", bad_price),
        "product_name",
        "amount.currency_code",
        "interval",
        "interval_count",
        "trial_days",
    )
    await expect_invalid(
        subscriptions.subscribe("cus_nope", "price_nope", quantity=-1, payment_method="card"),
        "customer_id",
        "price_id",
        "quantity",
        "payment_method",
    )
    unknown_price = "price_" + subscription.id.removeprefix("sub_")
    await expect_error(
        subscriptions.subscribe(customer_id, unknown_price), NOT_FOUND, "PRICE_NOT_FOUND"
    )
    await expect_error(
        other_subscriptions.get(subscription.id), NOT_FOUND, "SUBSCRIPTION_NOT_FOUND"
    )
    await expect_error(
        other_subscriptions.change("CancelSubscription", subscription.id),
        NOT_FOUND,
        "SUBSCRIPTION_NOT_FOUND",
    )
    yearly = await subscriptions.price(5000, interval=sub_pb.Price.INTERVAL_YEAR)
    await expect_error(
        subscriptions.update(subscription.id, price_id=yearly.id),
        FAILED_PRECONDITION,
        "SUBSCRIPTION_PRICE_MISMATCH",
    )
    await expect_error(
        subscriptions.change("ResumeSubscription", subscription.id),
        FAILED_PRECONDITION,
        "SUBSCRIPTION_STATUS_CONFLICT",
    )
    await expect_error(
        subscriptions.advance(START - timedelta(seconds=1)),
        FAILED_PRECONDITION,
        "TEST_CLOCK_BACKWARDS",
    )
    await expect_invalid(
        subscriptions.membership(subscription_id=subscription.id, customer_id=customer_id),
        "subscription_id",
    )
    # Times billing could not count periods from, and a period no payment could charge.
    end_of_time = datetime(9999, 12, 31, tzinfo=UTC)
    await expect_invalid(subscriptions.advance(end_of_time), "to_time")
    for start in (end_of_time, START - timedelta(days=2)):  # far ahead; periods long over
        await expect_invalid(
            subscriptions.subscribe(customer_id, price.id, start_time=stamp(start)), "start_time"
        )
    largest = await subscriptions.price(10**15)  # the largest amount paycore takes
    await expect_invalid(subscriptions.subscribe(customer_id, largest.id, quantity=2), "quantity")
    cheap = await subscriptions.price(5 * 10**11)
    await expect_invalid(
        subscriptions.update(subscription.id, price_id=cheap.id, quantity=10_000), "quantity"
    )

    after = await subscriptions.get(subscription.id)
    assert after == subscription  # nothing changed
    assert await subscriptions.invoices(subscription.id) == []


async def test_create_subscription_replays_by_request_id(
    subscriptions: SubscriptionApi, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id = await member(customers, vault)
    price = await subscriptions.price(500)
    request = build(pb.CreateSubscriptionRequest, customer_id=customer_id, price_id=price.id)
    first = await subscriptions.call("CreateSubscription", request)
    again = await subscriptions.call("CreateSubscription", request)
    assert first == again
    listed = await subscriptions.call(
        "ListSubscriptions", pb.ListSubscriptionsRequest(customer_id=customer_id)
    )
    assert len(listed.subscriptions) == 1


async def test_a_server_without_test_clocks_refuses_to_move_one(services: Services) -> None:
    service = SubscriptionService(
        executor=services.executor,
        reads=PostgresSubscriptionReads(services.pool),
        gate=services.gate,
        test_clocks=False,
    )
    encoder: Encoder[Any] = Encoder(success=lambda _: b"", failure=lambda _: b"")
    identity = RequestIdentity(new_request_id(), b"fingerprint")
    with pytest.raises(IllegalTransitionError) as refused:
        await service.advance_test_clock("m_any", START, identity, encoder)
    assert refused.value.reason is Reason.TEST_CLOCKS_DISABLED
