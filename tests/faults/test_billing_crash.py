"""Billing killed with SIGKILL mid-run (issue 20): started again, every period billed once.

``paycore run`` bills in its own loop (``billing_poll_s``). Subscriptions of a
merchant with a test clock are made to owe a year at once; paycore is killed
while it catches up, at whatever step its loop is (a transaction open, a charge
in flight, an outcome not yet recorded), and started again. Its leases expire
(``billing_lease_s``), the new process takes the subscriptions over, and the
books must show each period invoiced once and charged once: one captured
payment per invoice, the ledger equal to them. A charge the kill left
unanswered is settled by a status query as "nothing happened" (a failed
payment, no money moved) and the invoice is dunned: charged again a day later
by the merchant's clock, under the next attempt's request_id.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from paycore.v1 import card_vault_service_pb2 as vault_pb
from paycore.v1 import (
    card_vault_service_pb2_grpc,
    customer_service_pb2_grpc,
    subscription_service_pb2_grpc,
)
from paycore.v1 import customer_service_pb2 as customer_pb
from paycore.v1 import subscription_pb2 as sub_pb
from paycore.v1 import subscription_service_pb2 as pb
from tests.ledger.invariants import assert_ledger_consistent
from tests.runtime.processes import REPO_ROOT
from tests.support.polling import eventually
from tests.support.requests import build, card_data, distinctive_pan, money

from .conftest import Scenario

SUBSCRIPTIONS = 6
START = datetime(2027, 1, 31, 9, 0, tzinfo=UTC)


@pytest.fixture
def paycore_settings(tmp_path: Path) -> dict[str, str]:
    # Billing in paycore's own loop, often; a dead process's leases lapse in seconds.
    # Risk's velocity counts in wall time, in which a year of a card's renewals takes a
    # second: the default rules would hold the charges after a failure for review (the
    # renewal then waits for a person, which is not what this scenario is about).
    rules = (REPO_ROOT / "riskengine" / "default_rules.toml").read_text()
    relaxed = tmp_path / "rules.toml"
    relaxed.write_text(rules.replace("review = 50\ndecline = 80", "review = 999\ndecline = 999"))
    return {
        "PAYCORE_BILLING_TEST_CLOCKS": "true",
        "PAYCORE_BILLING_POLL_S": "0.1",
        "PAYCORE_BILLING_LEASE_S": "3",
        "PAYCORE_RISK__RULES_FILE": str(relaxed),
    }


def _stamp(at: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(at)
    return value


async def _subscribe_all(scenario: Scenario) -> list[str]:
    """A price, and ``SUBSCRIPTIONS`` customers each with a card of its own, subscribed."""
    channel, metadata = scenario.channel, scenario.metadata
    subscriptions = subscription_service_pb2_grpc.SubscriptionServiceStub(channel)
    customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
    vault = card_vault_service_pb2_grpc.CardVaultServiceStub(channel)
    clock = build(pb.AdvanceTestClockRequest, to_time=_stamp(START))
    await subscriptions.AdvanceTestClock(clock, metadata=metadata)
    price_request = build(
        pb.CreatePriceRequest,
        product_name="Gold",
        amount=money(12, 0, "EUR"),
        interval=sub_pb.Price.INTERVAL_MONTH,
    )
    price = (await subscriptions.CreatePrice(price_request, metadata=metadata)).price
    ids = []
    for _ in range(SUBSCRIPTIONS):
        card = build(vault_pb.TokenizeCardRequest, card=card_data(distinctive_pan()))
        token = (await vault.TokenizeCard(card, metadata=metadata)).token
        customer_request = build(customer_pb.CreateCustomerRequest, default_payment_method=token.id)
        customer = (await customers.CreateCustomer(customer_request, metadata=metadata)).customer
        request = build(pb.CreateSubscriptionRequest, customer_id=customer.id, price_id=price.id)
        subscription = await subscriptions.CreateSubscription(request, metadata=metadata)
        ids.append(subscription.subscription.id)
    return ids


async def test_kill_9_mid_billing_run_bills_every_period_exactly_once(scenario: Scenario) -> None:
    await _subscribe_all(scenario)
    db, merchant_id = scenario.db, scenario.merchant_id
    # The first invoices (due at the start) are paid before the year is owed.
    await eventually(
        lambda: db.fetchval(
            "SELECT count(*) = $2 FROM invoices WHERE merchant_id = $1 AND status = 'paid'",
            merchant_id,
            SUBSCRIPTIONS,
        ),
        within_s=30,
        what="the first invoices paid",
    )
    subscriptions = subscription_service_pb2_grpc.SubscriptionServiceStub(scenario.channel)

    async def advance(days: int) -> None:
        to = build(pb.AdvanceTestClockRequest, to_time=_stamp(START + timedelta(days=days)))
        await subscriptions.AdvanceTestClock(to, metadata=scenario.metadata)

    # A year's periods owed (the twelfth starts December 31; the thirteenth, at
    # START + 365 days, not yet), then killed mid-run: some billed, not all.
    await advance(360)
    await eventually(
        lambda: db.fetchval(
            "SELECT count(*) > $2 FROM invoices WHERE merchant_id = $1",
            merchant_id,
            SUBSCRIPTIONS * 3,
        ),
        within_s=30,
        what="billing under way",
    )
    scenario.stack.kill_paycore()
    paid_at_kill = await db.fetchval(
        "SELECT count(*) FROM invoices WHERE merchant_id = $1 AND status = 'paid'", merchant_id
    )
    await asyncio.to_thread(scenario.stack.run_paycore)

    expected = SUBSCRIPTIONS * 12
    # Every subscription billed to date, or stopped at a failed charge with its retry
    # scheduled: a charge the kill left unanswered is settled by a status query (after
    # its grace, 30 s here) as "nothing happened", and dunning takes it from there.
    await eventually(
        lambda: db.fetchval(
            """
            SELECT bool_and(s.periods_billed = 12 OR EXISTS (
                SELECT 1 FROM invoices i WHERE i.merchant_id = s.merchant_id
                  AND i.subscription_id = s.id AND i.status = 'open' AND i.attempts > 0))
            FROM subscriptions s WHERE s.merchant_id = $1
            """,
            merchant_id,
        ),
        within_s=90,
        what="every subscription billed to date or dunned after the restart",
    )
    await advance(364)  # the dunning retries (a day after a failure) fall due, then the rest
    await eventually(
        lambda: db.fetchval(
            "SELECT count(*) = $2 FROM invoices WHERE merchant_id = $1 AND status = 'paid'",
            merchant_id,
            expected,
        ),
        within_s=30,
        what=f"all {expected} invoices paid",
    )
    invoices = await db.fetch(
        "SELECT subscription_id, period_start, attempts, payment_id FROM invoices"
        " WHERE merchant_id = $1",
        merchant_id,
    )
    payments = await db.fetch(
        "SELECT id, state, amount_captured, metadata FROM payments WHERE merchant_id = $1",
        merchant_id,
    )
    assert len(invoices) == expected
    assert len({(i["subscription_id"], i["period_start"]) for i in invoices}) == expected
    # One captured payment per invoice, the invoice's; none made twice. A charge the kill
    # left unanswered may have been settled as failed by a status query (nothing moved)
    # and the invoice charged again: that one is the second attempt's request_id.
    captured = [p for p in payments if p["state"] == "captured"]
    assert len(captured) == expected, [p["metadata"] for p in captured]
    assert {p["id"] for p in captured} == {i["payment_id"] for i in invoices}
    assert all(p["amount_captured"] == 1200 for p in captured)
    assert all(p["amount_captured"] == 0 for p in payments if p["state"] != "captured")
    print(
        f"\nBOOKS billing kill -9: {paid_at_kill} invoices paid at the kill;"
        f" {expected} invoices, {len(payments)} payments"
    )
    assert paid_at_kill < expected  # the kill did land mid-run
    await assert_ledger_consistent(db, merchant_id)
    balance = await db.fetchval(
        "SELECT sum(credits_posted - debits_posted) FROM ledger_accounts"
        " WHERE merchant_id = $1 AND kind = 'merchant_pending'",
        merchant_id,
    )
    assert balance == expected * 1200
    assert scenario.stack.starts == 2
