"""The subscription use cases (issue 20): prices, subscriptions, membership, test clocks.

Mutations are plans run by the request engine (core/service/execution.py):
once per request_id, their reply stored with the change. Everything is scoped
to the caller's merchant. What a change does to a subscription is decided by
core/domain/subscriptions.py; billing itself is core/service/billing.py.
Times are the merchant's billing clock: its test clock when it has one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime

from core.domain import ids
from core.domain import mandates as mandate_rules
from core.domain import subscriptions as rules
from core.domain.billing_events import subscription_events
from core.domain.errors import IllegalTransitionError, NotFoundError, Reason
from core.domain.invoices import Invoice
from core.domain.money import Money
from core.domain.subscription_commands import (
    CreatePrice,
    CreateSubscription,
    InvoiceQuery,
    PriceQuery,
    SubscriptionQuery,
    UpdateSubscription,
)
from core.domain.subscriptions import Price, Subscription
from core.gate import RequestGate, RpcClass
from core.ports.repository import PaymentTransaction, RequestKey
from core.ports.subscriptions import SubscriptionReads
from core.service.customers import require_card_token
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.subscription_endings import void_open_invoice

MEMBERSHIP_SCAN = 100
"""A customer's subscriptions read to answer its membership (newest first)."""


async def _locked(tx: PaymentTransaction, merchant_id: str, subscription_id: str) -> Subscription:
    subscription = await tx.subscriptions.lock(merchant_id, subscription_id)
    if subscription is None:
        raise NotFoundError(Reason.SUBSCRIPTION_NOT_FOUND, subscription_id=subscription_id)
    return subscription


async def _price(tx: PaymentTransaction, merchant_id: str, price_id: str) -> Price:
    price = await tx.subscriptions.find_price(merchant_id, price_id)
    if price is None:
        raise NotFoundError(Reason.PRICE_NOT_FOUND, price_id=price_id)
    return price


async def _require_mandate(
    tx: PaymentTransaction, subscription: Subscription, at: datetime
) -> None:
    """Refuse the subscription's mandate unless it allows its renewals (mandates.check_recurring).

    ``at`` is the wall clock's, as each renewal's charge checks the mandate by it.
    The row lock orders this against a concurrent RevokeMandate: a mandate revoked
    after this commits is the charge's to refuse (billing dunns that).
    """
    mandate_id = subscription.mandate_id
    if not mandate_id:
        return
    mandate = await tx.mandates.lock(subscription.merchant_id, mandate_id)
    if mandate is None:
        raise NotFoundError(Reason.MANDATE_NOT_FOUND, mandate_id=mandate_id)
    amount = Money(rules.period_amount(subscription), subscription.price.currency)
    mandate_rules.check_recurring(
        mandate,
        customer_id=subscription.customer_id,
        amount=amount,
        at=at,
        every=rules.renewal_frequency(subscription.price),
    )


class SubscriptionService:
    """A merchant's prices, subscriptions, invoices and test clock."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        reads: SubscriptionReads,
        gate: RequestGate,
        test_clocks: bool,
    ) -> None:
        """``test_clocks``: whether AdvanceTestClock is offered (never in production)."""
        self._executor = executor
        self._reads = reads
        self._gate = gate
        self._test_clocks = test_clocks

    # --- reads ----------------------------------------------------------------

    async def get_subscription(self, merchant_id: str, subscription_id: str) -> Subscription:
        """One subscription of the merchant by primary key; NOT_FOUND otherwise.

        This is the membership read ("is this member active now?"): one
        PostgreSQL row by its key, always the committed truth.
        """
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        subscription = await self._reads.get_subscription(merchant_id, subscription_id)
        if subscription is None:
            raise NotFoundError(Reason.SUBSCRIPTION_NOT_FOUND, subscription_id=subscription_id)
        return subscription

    async def get_price(self, merchant_id: str, price_id: str) -> Price:
        """One price of the merchant; NOT_FOUND otherwise."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        price = await self._reads.get_price(merchant_id, price_id)
        if price is None:
            raise NotFoundError(Reason.PRICE_NOT_FOUND, price_id=price_id)
        return price

    async def list_prices(self, query: PriceQuery) -> tuple[list[Price], bool]:
        """A page of the merchant's prices, newest first, and whether more follow."""
        await self._gate.admit(query.merchant_id, RpcClass.READS, None)
        rows = await self._reads.list_prices(
            dataclasses.replace(query, page_size=query.page_size + 1)
        )
        return rows[: query.page_size], len(rows) > query.page_size

    async def list_subscriptions(self, query: SubscriptionQuery) -> tuple[list[Subscription], bool]:
        """A page of the merchant's subscriptions, newest first, and whether more follow."""
        await self._gate.admit(query.merchant_id, RpcClass.READS, None)
        # One more than the page: whether another page follows, without a count.
        rows = await self._reads.list_subscriptions(
            dataclasses.replace(query, page_size=query.page_size + 1)
        )
        return rows[: query.page_size], len(rows) > query.page_size

    async def list_invoices(self, query: InvoiceQuery) -> tuple[list[Invoice], bool]:
        """A page of one subscription's invoices, newest first, and whether more follow."""
        await self.get_subscription(query.merchant_id, query.subscription_id)
        rows = await self._reads.list_invoices(
            dataclasses.replace(query, page_size=query.page_size + 1)
        )
        return rows[: query.page_size], len(rows) > query.page_size

    async def membership(self, merchant_id: str, customer_id: str) -> Subscription | None:
        """The subscription that answers "is this customer a member now?" (None: it has none).

        An active one if any is (rules.membership_of); the customer must be live.
        """
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        query = SubscriptionQuery(merchant_id, MEMBERSHIP_SCAN, customer_id=customer_id)
        return rules.membership_of(await self._reads.list_subscriptions(query))

    # --- writes ---------------------------------------------------------------

    async def create_price(
        self, command: CreatePrice, request: RequestIdentity, encoder: Encoder[Price]
    ) -> Reply:
        """Create a price (its product named on it)."""
        price_id = ids.new_id(ids.PRICE)

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Price]:
            price = rules.new_price(command, price_id, at)
            await tx.subscriptions.save_price(price)
            return Plan(price.id, result=price)

        key = RequestKey(command.merchant_id, "CreatePrice", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def create_subscription(
        self, command: CreateSubscription, request: RequestIdentity, encoder: Encoder[Subscription]
    ) -> Reply:
        """Subscribe a live customer of the merchant to one of its prices."""
        subscription_id = ids.new_id(ids.SUBSCRIPTION)

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Subscription]:
            merchant = command.merchant_id
            if await tx.customers.find(merchant, command.customer_id) is None:
                raise NotFoundError(Reason.CUSTOMER_NOT_FOUND, customer_id=command.customer_id)
            price = await _price(tx, merchant, command.price_id)
            await require_card_token(tx, merchant, command.payment_method, command.customer_id)
            now = await tx.subscriptions.clock_now(merchant, at)
            subscription = rules.new_subscription(command, price, subscription_id, now)
            await _require_mandate(tx, subscription, at)
            await tx.subscriptions.save(subscription)
            await tx.subscriptions.announce(subscription_events(None, subscription), at)
            return Plan(subscription.id, result=subscription)

        key = RequestKey(command.merchant_id, "CreateSubscription", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def _change(
        self,
        operation: str,
        ids_: tuple[str, str],
        request: RequestIdentity,
        encoder: Encoder[Subscription],
        change: Callable[
            [PaymentTransaction, Subscription, datetime, datetime], Awaitable[Subscription]
        ],
    ) -> Reply:
        """Run ``change`` on the locked subscription ``ids_`` (merchant, id) at the merchant's now
        (and the wall clock's, its last argument).

        ``change`` raises before it writes anything: a refused change leaves the
        subscription as it was (the business error is the request's stored reply).
        """
        merchant_id, subscription_id = ids_

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Subscription]:
            before = await _locked(tx, merchant_id, subscription_id)
            now = await tx.subscriptions.clock_now(merchant_id, at)
            after = await change(tx, before, now, at)
            await tx.subscriptions.save(after)
            await tx.subscriptions.announce(subscription_events(before, after), at)
            return Plan(after.id, result=after)

        key = RequestKey(merchant_id, operation, request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def update_subscription(
        self, command: UpdateSubscription, request: RequestIdentity, encoder: Encoder[Subscription]
    ) -> Reply:
        """A new price or quantity (prorated) or payment method or mandate (a PAST_DUE one
        retries at once); a mandate it has (or gets) must allow the result."""
        merchant = command.merchant_id

        async def change(
            tx: PaymentTransaction, subscription: Subscription, now: datetime, at: datetime
        ) -> Subscription:
            if command.price_id is not None or command.quantity is not None:
                price = subscription.price
                if command.price_id is not None:
                    price = await _price(tx, merchant, command.price_id)
                quantity = command.quantity or subscription.quantity
                subscription = rules.changed(subscription, price, quantity, now)
            if command.mandate_id:  # a mandate names its card (with a token: refused)
                subscription = rules.payment_method_changed(
                    subscription, "", now, mandate_id=command.mandate_id
                )
            elif command.payment_method is not None or command.mandate_id is not None:
                token = command.payment_method or ""
                await require_card_token(tx, merchant, token, subscription.customer_id)
                subscription = rules.payment_method_changed(subscription, token, now)
            if command.mandate_id or (command.changes_amount and subscription.mandate_id):
                await _require_mandate(tx, subscription, at)
            return subscription

        target = (merchant, command.subscription_id)
        return await self._change("UpdateSubscription", target, request, encoder, change)

    async def cancel_subscription(
        self,
        target: tuple[str, str],
        at_period_end: bool,
        request: RequestIdentity,
        encoder: Encoder[Subscription],
    ) -> Reply:
        """Cancel ``target`` (merchant, id) now (its open invoice voided) or at period end."""

        async def change(
            tx: PaymentTransaction, subscription: Subscription, now: datetime, at: datetime
        ) -> Subscription:
            del at
            ended = rules.canceled(subscription, now, at_period_end=at_period_end)
            await void_open_invoice(tx, ended, now)
            return ended

        return await self._change("CancelSubscription", target, request, encoder, change)

    async def pause_or_resume(
        self,
        target: tuple[str, str],
        pause: bool,
        request: RequestIdentity,
        encoder: Encoder[Subscription],
    ) -> Reply:
        """PauseSubscription (``pause``) or ResumeSubscription of ``target`` (merchant, id)."""
        rule = rules.paused if pause else rules.resumed

        async def change(
            tx: PaymentTransaction, subscription: Subscription, now: datetime, at: datetime
        ) -> Subscription:
            del tx, at
            return rule(subscription, now)

        operation = "PauseSubscription" if pause else "ResumeSubscription"
        return await self._change(operation, target, request, encoder, change)

    async def advance_test_clock(
        self,
        merchant_id: str,
        to_time: datetime,
        request: RequestIdentity,
        encoder: Encoder[datetime],
    ) -> Reply:
        """Move the merchant's test clock forward to ``to_time`` (created at the first call).

        Billing then acts as if that time had come (core/service/billing.py).
        """
        if not self._test_clocks:
            raise IllegalTransitionError(Reason.TEST_CLOCKS_DISABLED)

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[datetime]:
            before = await tx.subscriptions.lock_clock(merchant_id)
            if before is not None and to_time < before:
                raise IllegalTransitionError(
                    Reason.TEST_CLOCK_BACKWARDS, now=before.isoformat(), to_time=to_time.isoformat()
                )
            await tx.subscriptions.set_clock(merchant_id, to_time, at)
            return Plan(merchant_id, result=to_time)

        key = RequestKey(merchant_id, "AdvanceTestClock", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)
