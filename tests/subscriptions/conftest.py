"""Fixtures of the subscription tests: SubscriptionService as the test's merchant, its
test clock, billing runners of the test's own, and the ledger's view of what was paid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from core.app import Services
from core.app._subscriptions import build_billing
from core.config import Settings
from core.ledger.accounts import AccountKind, system_account_id
from core.service.billing import BillingRunner
from paycore.v1 import mandate_service_pb2 as ms
from paycore.v1 import subscription_pb2 as sub_pb
from paycore.v1 import subscription_service_pb2 as pb
from paycore.v1 import subscription_service_pb2_grpc
from tests.customers.conftest import CustomerApi, customer_stub, customers, vault
from tests.mandates.conftest import MandateApi, mandate_stub, mandates, scope
from tests.support.api import VaultApi
from tests.support.auth import Metadata, merchant_metadata
from tests.support.requests import build, distinctive_pan, money, new_merchant_id

__all__ = ["customer_stub", "customers", "mandate_stub", "mandates", "vault"]

START = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)
"""Where each test's merchant's test clock starts: a month end, to see month ends handled."""


def stamp(at: datetime) -> Timestamp:
    """A Timestamp of ``at``."""
    value = Timestamp()
    value.FromDatetime(at)
    return value


@dataclass(frozen=True)
class SubscriptionApi:
    """SubscriptionService as one merchant sees it; every write with a fresh request_id."""

    stub: subscription_service_pb2_grpc.SubscriptionServiceAsyncStub
    merchant_id: str
    metadata: Metadata

    async def call(self, rpc: str, request: Any) -> Any:
        """Any SubscriptionService RPC by name, as this merchant; the whole response."""
        return await getattr(self.stub, rpc)(request, metadata=self.metadata)

    async def price(
        self, cents: int = 999, interval: int = sub_pb.Price.INTERVAL_MONTH, **fields: Any
    ) -> sub_pb.Price:
        """CreatePrice: ``cents`` EUR per ``interval``."""
        amount = money(cents // 100, (cents % 100) * 10_000_000, "EUR")
        request = build(
            pb.CreatePriceRequest, product_name="Gold", amount=amount, interval=interval, **fields
        )
        return (await self.call("CreatePrice", request)).price

    async def subscribe(
        self, customer_id: str, price_id: str, **fields: Any
    ) -> sub_pb.Subscription:
        """CreateSubscription."""
        request = build(
            pb.CreateSubscriptionRequest, customer_id=customer_id, price_id=price_id, **fields
        )
        return (await self.call("CreateSubscription", request)).subscription

    async def get(self, subscription_id: str) -> sub_pb.Subscription:
        """GetSubscription."""
        request = pb.GetSubscriptionRequest(subscription_id=subscription_id)
        return (await self.call("GetSubscription", request)).subscription

    async def update(self, subscription_id: str, **fields: Any) -> sub_pb.Subscription:
        """UpdateSubscription with ``fields``."""
        request = build(pb.UpdateSubscriptionRequest, subscription_id=subscription_id, **fields)
        return (await self.call("UpdateSubscription", request)).subscription

    async def change(self, rpc: str, subscription_id: str, **fields: Any) -> sub_pb.Subscription:
        """CancelSubscription, PauseSubscription or ResumeSubscription."""
        request = build(getattr(pb, f"{rpc}Request"), subscription_id=subscription_id, **fields)
        return (await self.call(rpc, request)).subscription

    async def invoices(self, subscription_id: str) -> list[sub_pb.Invoice]:
        """Every invoice of the subscription, oldest first (ListInvoices, page after page)."""
        found: list[sub_pb.Invoice] = []
        token = ""
        while True:
            request = pb.ListInvoicesRequest(
                subscription_id=subscription_id, page_size=5, page_token=token
            )
            page = await self.call("ListInvoices", request)
            found.extend(page.invoices)
            token = page.next_page_token
            if not token:
                return found[::-1]

    async def membership(self, **fields: str) -> pb.GetMembershipStatusResponse:
        """GetMembershipStatus by subscription_id or customer_id."""
        request = pb.GetMembershipStatusRequest(**fields)
        result: pb.GetMembershipStatusResponse = await self.call("GetMembershipStatus", request)
        return result

    async def advance(self, to_time: datetime) -> None:
        """AdvanceTestClock."""
        request = build(pb.AdvanceTestClockRequest, to_time=stamp(to_time))
        await self.call("AdvanceTestClock", request)


class Billing:
    """Billing runners of the test's own over the test server's services, and the ledger."""

    def __init__(self, services: Services, settings: Settings, merchant_id: str) -> None:
        self._services = services
        self._settings = settings
        self.merchant_id = merchant_id
        self.pool: asyncpg.Pool = services.pool

    def runner(self, owner: str, **settings: Any) -> BillingRunner:
        """A billing runner (its leases named ``owner``), with ``settings`` changed."""
        services = self._services
        return build_billing(
            self._settings.replace(**settings),
            services.pool,
            repository=services.repository,
            payments=services.payments,
            owner=owner,
        )

    async def through_dunning(self, subscriptions: SubscriptionApi) -> BillingRunner:
        """Bill a subscription created at ``START`` whose charges fail, to the end of a
        short dunning schedule (``billing_dunning_days``): charged at the start, then
        retried after 1 and 2 days, each as its day comes. The runner used."""
        runner = self.runner("runner", billing_dunning_days=(1, 2))
        await runner.run_once()
        for days in (1, 2):
            await subscriptions.advance(START + timedelta(days=days, minutes=1))
            await runner.run_once()
        return runner

    async def paid(self) -> int:
        """The merchant's pending balance in the ledger: what its customers' charges brought.

        Checked against the payments' captured amounts, so a charge the ledger
        missed (or posted twice) fails here too.
        """
        balance: int = await self.pool.fetchval(
            """
            SELECT coalesce(sum(credits_posted - debits_posted), 0) FROM ledger_accounts
            WHERE merchant_id = $1 AND id = $2
            """,
            self.merchant_id,
            system_account_id(AccountKind.MERCHANT_PENDING, "EUR"),
        )
        captured = await self.pool.fetchval(
            "SELECT coalesce(sum(amount_captured), 0) FROM payments WHERE merchant_id = $1",
            self.merchant_id,
        )
        assert balance == captured
        return balance

    async def payments(self) -> int:
        """How many payments the merchant has."""
        count: int = await self.pool.fetchval(
            "SELECT count(*) FROM payments WHERE merchant_id = $1", self.merchant_id
        )
        return count


@pytest.fixture(scope="session")
def subscription_stub(
    grpc_channel: grpc.aio.Channel,
) -> subscription_service_pb2_grpc.SubscriptionServiceAsyncStub:
    """SubscriptionService stub over the test channel."""
    return subscription_service_pb2_grpc.SubscriptionServiceStub(grpc_channel)


@pytest.fixture
async def subscriptions(
    subscription_stub: subscription_service_pb2_grpc.SubscriptionServiceAsyncStub,
    merchant_id: str,
    metadata: Metadata,
) -> SubscriptionApi:
    """The test's merchant's subscriptions, its test clock at ``START``."""
    api = SubscriptionApi(subscription_stub, merchant_id, metadata)
    await api.advance(START)
    return api


@pytest.fixture
async def other_subscriptions(
    subscription_stub: subscription_service_pb2_grpc.SubscriptionServiceAsyncStub,
    services: Services,
) -> SubscriptionApi:
    """A second merchant's subscriptions, for isolation tests."""
    other = new_merchant_id()
    return SubscriptionApi(subscription_stub, other, await merchant_metadata(services.pool, other))


@pytest.fixture
def billing(services: Services, settings: Settings, merchant_id: str) -> Billing:
    """Billing runners and the ledger's view, for the test's merchant."""
    return Billing(services, settings, merchant_id)


async def member(customers: CustomerApi, vault: VaultApi, number: str = "") -> str:
    """A new customer paying with a card ``number`` by default; its id.

    By default a card of its own that the sandbox approves: risk's velocity rules
    count a card's use across merchants, in wall time, in which billing a year
    takes a second.
    """
    token = await vault.tokenize(number or distinctive_pan())
    customer = await customers.create(email="member@example.com", default_payment_method=token.id)
    return customer.id


def eur_scope(euros: int = 50, **fields: Any) -> ms.MandateScope:
    """A multi-use, unscheduled mandate of up to ``euros`` EUR per charge."""
    return scope(max_amount=money(euros, 0, "EUR"), **fields)


async def customer_with_mandate(
    customers: CustomerApi, vault: VaultApi, mandates: MandateApi, **fields: Any
) -> tuple[str, ms.Mandate]:
    """A customer without a default card, and a mandate of a card of theirs (EUR)."""
    customer = await customers.create(email="member@example.com")
    token = await vault.tokenize(distinctive_pan())
    values: dict[str, Any] = {"scope": eur_scope()}
    values.update(fields)
    return customer.id, await mandates.setup(customer.id, token.id, **values)
