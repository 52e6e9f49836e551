"""Billing end to end (issue 20): real PostgreSQL and Redis, the ordinary payment path.

A merchant's test clock moves billing's time; the runner is run the way the
server's loop would run it. Subscriptions start without a trial, so the first
invoice is charged at the start: a year of monthly billing from January 31 to
just before the next January 31 is exactly 12 invoices (the 13th, for the
second year, would be due at the anniversary itself).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from core.app import Services
from core.app._subscriptions import build_billing
from core.config import Settings
from core.domain.billing_periods import Interval
from core.domain.errors import PaycoreError
from core.domain.invoices import InvoiceStatus
from core.domain.subscriptions import (
    CreatePrice,
    CreateSubscription,
    Price,
    Subscription,
    SubscriptionStatus,
    WhenDunningEnds,
)
from core.service.billing import BillingRunner
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.subscriptions import SubscriptionChange, SubscriptionService
from tests.customers.conftest import CustomerApi
from tests.ledger.invariants import assert_ledger_consistent
from tests.support.api import VaultApi
from tests.support.requests import new_request_id

pytestmark = pytest.mark.asyncio

START = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"

_results: dict[str, Any] = {}


def _encoder(name: str) -> Encoder[Any]:
    # The application's replies as the test reads them: the result kept by name.
    def success(value: Any) -> bytes:
        _results[name] = value
        return name.encode()

    def failure(error: PaycoreError) -> bytes:
        _results[name] = error
        return b"error"

    return Encoder(success=success, failure=failure)


def _identity() -> RequestIdentity:
    return RequestIdentity(new_request_id(), b"fingerprint")


class Billing:
    """The merchant's subscriptions, test clock and billing runners."""

    def __init__(self, services: Services, settings: Settings, merchant_id: str) -> None:
        self.merchant_id = merchant_id
        self.pool: asyncpg.Pool = services.pool
        self.service: SubscriptionService = services.subscriptions
        self._services = services
        self._settings = settings

    def runner(self, owner: str, **settings: Any) -> BillingRunner:
        """A billing runner of its own (its leases named ``owner``), with ``settings``."""
        services = self._services
        return build_billing(
            self._settings.replace(**settings),
            services.pool,
            repository=services.repository,
            payments=services.payments,
            owner=owner,
        )

    async def _expect(self, name: str, reply: Reply) -> Any:
        result = _results.pop(name)
        if isinstance(result, PaycoreError):
            raise result
        assert reply.ok
        return result

    async def price(self, amount: int = 999, interval: Interval = Interval.MONTH) -> Price:
        command = CreatePrice(self.merchant_id, "Gold", amount, "EUR", interval)
        reply = await self.service.create_price(command, _identity(), _encoder("price"))
        result: Price = await self._expect("price", reply)
        return result

    async def subscribe(self, customer_id: str, price: Price, **fields: Any) -> Subscription:
        command = CreateSubscription(self.merchant_id, customer_id, price.id, **fields)
        reply = await self.service.create_subscription(command, _identity(), _encoder("sub"))
        result: Subscription = await self._expect("sub", reply)
        return result

    async def update(self, subscription_id: str, **fields: Any) -> Subscription:
        change = SubscriptionChange(self.merchant_id, subscription_id, **fields)
        reply = await self.service.update_subscription(change, _identity(), _encoder("update"))
        result: Subscription = await self._expect("update", reply)
        return result

    async def advance(self, to_time: datetime) -> None:
        reply = await self.service.advance_test_clock(
            self.merchant_id, to_time, _identity(), _encoder("clock")
        )
        await self._expect("clock", reply)

    async def get(self, subscription_id: str) -> Subscription:
        return await self.service.get_subscription(self.merchant_id, subscription_id)

    async def ledger_captured(self) -> int:
        """What the ledger says the merchant's customers paid: captured payments' postings."""
        total: int = await self.pool.fetchval(
            "SELECT coalesce(sum(amount_captured), 0) FROM payments WHERE merchant_id = $1",
            self.merchant_id,
        )
        return total


@pytest.fixture
async def billing(services: Services, settings: Settings, merchant_id: str) -> Billing:
    clock = Billing(services, settings, merchant_id)
    await clock.advance(START)
    return clock


async def _customer(customers: CustomerApi, vault: VaultApi, number: str) -> tuple[str, str]:
    token = await vault.tokenize(number)
    customer = await customers.create(email="member@example.com", default_payment_method=token.id)
    return customer.id, token.id


async def test_a_year_of_monthly_billing_is_twelve_paid_invoices_and_twelve_payments(
    billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id, _ = await _customer(customers, vault, GOOD_CARD)
    price = await billing.price(amount=999)
    subscription = await billing.subscribe(customer_id, price)
    runner = billing.runner("runner-a")
    month_ends = []
    for month in range(12):
        # Each month, just after its renewal: the member is active all the way.
        at = START if month == 0 else (await billing.get(subscription.id)).current_period_end
        await billing.advance(at + timedelta(hours=1))
        await runner.run_once()
        now = await billing.get(subscription.id)
        assert now.status is SubscriptionStatus.ACTIVE and now.is_active
        month_ends.append(now.current_period_end.date().isoformat())
    await billing.advance(START.replace(year=2028) - timedelta(minutes=1))
    await runner.run_once()

    invoices = await billing.service.list_invoices(billing.merchant_id, subscription.id)
    assert len(invoices) == 12
    assert all(i.status is InvoiceStatus.PAID and i.amount == 999 for i in invoices)
    assert len({i.payment_id for i in invoices}) == 12
    # Month ends: anchored on January 31, periods end on the month's last day when shorter.
    assert month_ends[:3] == ["2027-02-28", "2027-03-31", "2027-04-30"]
    assert month_ends[-1] == "2028-01-31"
    assert await billing.ledger_captured() == 12 * 999
    await assert_ledger_consistent(billing.pool, billing.merchant_id)


async def test_a_year_at_once_bills_every_missed_period_once(
    billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id, _ = await _customer(customers, vault, GOOD_CARD)
    subscription = await billing.subscribe(customer_id, await billing.price(amount=500))
    await billing.advance(START.replace(year=2028) - timedelta(minutes=1))

    # Two runners at once: each period is invoiced and charged exactly once.
    await asyncio.gather(billing.runner("a").run_once(), billing.runner("b").run_once())
    await billing.runner("c").run_once()

    invoices = await billing.service.list_invoices(billing.merchant_id, subscription.id)
    assert len(invoices) == 12
    assert len({i.period_start for i in invoices}) == 12
    assert all(i.status is InvoiceStatus.PAID and i.attempts == 1 for i in invoices)
    assert await billing.ledger_captured() == 12 * 500
    await assert_ledger_consistent(billing.pool, billing.merchant_id)


async def test_a_failed_renewal_is_dunned_to_past_due_and_recovers_with_a_working_card(
    billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    customer_id, _ = await _customer(customers, vault, DECLINED_CARD)
    subscription = await billing.subscribe(customer_id, await billing.price(amount=700))
    runner = billing.runner("runner")
    await runner.run_once()

    failed = await billing.get(subscription.id)
    assert failed.status is SubscriptionStatus.PAST_DUE and not failed.is_active
    assert failed.next_billing_at == START + timedelta(days=1)
    # Dunning: retried after 1 and 3 days, failing again.
    for days in (1, 3):
        await billing.advance(START + timedelta(days=days, minutes=1))
        await runner.run_once()
    (invoice,) = await billing.service.list_invoices(billing.merchant_id, subscription.id)
    assert invoice.status is InvoiceStatus.OPEN and invoice.attempts == 3
    assert invoice.failure_code == "card_declined"
    assert (await billing.get(subscription.id)).next_billing_at == START + timedelta(days=5)

    good = await vault.tokenize(GOOD_CARD)
    changed = await billing.update(subscription.id, payment_method=good.id)
    assert changed.status is SubscriptionStatus.PAST_DUE  # retried by billing, not here
    await runner.run_once()

    recovered = await billing.get(subscription.id)
    assert recovered.status is SubscriptionStatus.ACTIVE and recovered.is_active
    (invoice,) = await billing.service.list_invoices(billing.merchant_id, subscription.id)
    assert invoice.status is InvoiceStatus.PAID and invoice.attempts == 4
    assert await billing.ledger_captured() == 700


async def test_dunning_exhausted_ends_the_subscription_as_the_merchant_chose(
    billing: Billing, customers: CustomerApi, vault: VaultApi
) -> None:
    # A shorter schedule (configurable): charged at the start, then after 1 and 2 days.
    # One declining card per subscription: risk counts a card's declines in wall time.
    price = await billing.price(amount=1500)
    first, _ = await _customer(customers, vault, DECLINED_CARD)
    second, _ = await _customer(customers, vault, "4000000000009995")  # insufficient funds
    unpaid = await billing.subscribe(first, price, when_dunning_ends=WhenDunningEnds.MARK_UNPAID)
    canceled = await billing.subscribe(second, price)
    runner = billing.runner("runner", billing_dunning_days=(1, 2))
    await runner.run_once()
    for days in (1, 2):
        await billing.advance(START + timedelta(days=days, minutes=1))
        await runner.run_once()

    assert (await billing.get(unpaid.id)).status is SubscriptionStatus.UNPAID
    ended = await billing.get(canceled.id)
    assert ended.status is SubscriptionStatus.CANCELED and ended.next_billing_at is None
    for subscription in (unpaid, canceled):
        (invoice,) = await billing.service.list_invoices(billing.merchant_id, subscription.id)
        assert invoice.status is InvoiceStatus.UNCOLLECTIBLE and invoice.attempts == 3
    # Nothing more is charged, however far the clock goes.
    await billing.advance(START + timedelta(days=90))
    assert await runner.run_once() == 0
    assert await billing.ledger_captured() == 0


async def test_a_test_clock_never_moves_back_and_nothing_changes(billing: Billing) -> None:
    with pytest.raises(PaycoreError) as refused:
        await billing.advance(START - timedelta(days=1))
    assert refused.value.reason.name == "TEST_CLOCK_BACKWARDS"
    clock = await billing.pool.fetchval(
        "SELECT now FROM test_clocks WHERE merchant_id = $1", billing.merchant_id
    )
    assert clock == START
