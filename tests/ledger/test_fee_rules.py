"""A merchant's fee rules: only the platform sets them, checked, and charged by settlement."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import grpc

from core.app import Services
from core.config import Settings
from paycore.v1 import account_service_pb2 as acc
from tests.support.api import Api
from tests.support.auth import Metadata, platform_metadata
from tests.support.clock import TestClock
from tests.support.expect import expect_error, expect_invalid
from tests.support.requests import cents, new_request_id, usd

from .conftest import available_cents, book_opening_balance
from .invariants import assert_ledger_consistent
from .settling import close_day, run_settlement

if TYPE_CHECKING:
    from .settling import Stub


async def _set_fees(stub: Stub, metadata: Metadata, *rules: acc.FeeRule, **fields: Any) -> Any:
    fields.setdefault("request_id", new_request_id())
    return await stub.SetFeeRules(acc.SetFeeRulesRequest(rules=rules, **fields), metadata=metadata)


async def test_the_platform_sets_a_merchants_fee_rules_and_settlement_charges_them(
    *,
    api: Api,
    accounts_stub: Stub,
    metadata: Metadata,
    admin_metadata: Metadata,
    services: Services,
    settlement_clock: TestClock,
    settings: Settings,
    today: date,
) -> None:
    superadmin_metadata = await platform_metadata(services.pool, api.merchant_id)
    card, wallet = acc.FeeRule(method="card", bps=100, fixed_minor=5), acc.FeeRule(method="wallet")
    await expect_error(
        _set_fees(accounts_stub, admin_metadata, card),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    request_id = new_request_id()
    set_rules = await _set_fees(
        accounts_stub, superadmin_metadata, card, wallet, request_id=request_id
    )
    assert list(set_rules.rules) == [card, wallet]
    replay = await _set_fees(
        accounts_stub, superadmin_metadata, card, wallet, request_id=request_id
    )
    assert replay == set_rules
    got = await accounts_stub.GetFeeRules(acc.GetFeeRulesRequest(), metadata=admin_metadata)
    assert (list(got.rules), got.default_rule) == (
        [card, wallet],
        acc.FeeRule(bps=290, fixed_minor=30),
    )
    audit = await services.pool.fetchrow(
        "SELECT before, after FROM audit_events"
        " WHERE merchant_id = $1 AND action = 'fee_rules.set'",
        api.merchant_id,
    )
    assert audit is not None
    assert (audit["before"], audit["after"]) == (
        {},
        {"card": {"bps": 100, "fixed_minor": 5}, "wallet": {"bps": 0, "fixed_minor": 0}},
    )

    # A card payment of 10.00 (fee 1 % + 0.05 = 0.15) and a wallet payment of 4.00 (no fee).
    await api.captured()
    created = await accounts_stub.CreateAccount(
        acc.CreateAccountRequest(request_id=new_request_id(), currency_code="USD"),
        metadata=metadata,
    )
    await book_opening_balance(services.pool, api.merchant_id, created.account.id, 500)
    await accounts_stub.PayFromWallet(
        acc.PayFromWalletRequest(
            request_id=new_request_id(), account_id=created.account.id, amount=usd(4)
        ),
        metadata=metadata,
    )
    close_day(settlement_clock, settings, today)
    report = await run_settlement(accounts_stub, admin_metadata, today)
    assert sorted((line.method, cents(line.fee)) for line in report.lines) == [
        ("card", 15),
        ("wallet", 0),
    ]
    # The report against the ledger: its captures are the captures posted to
    # merchant_pending, its net is what reached merchant_available, its fees
    # what fee_revenue holds.
    posted = await services.pool.fetch(
        """
        SELECT t.id, e.amount FROM ledger_transactions t JOIN ledger_entries e
          ON e.merchant_id = t.merchant_id AND e.transaction_id = t.id
        WHERE t.merchant_id = $1 AND t.kind = 'capture' AND e.account_id = 'merchant_pending.USD'
        """,
        api.merchant_id,
    )
    assert {(r["id"], r["amount"]) for r in posted} == {
        (line.transaction_id, cents(line.amount)) for line in report.lines
    }
    assert cents(report.captured) == sum(r["amount"] for r in posted) == 1400
    assert (
        await available_cents(accounts_stub, metadata, "merchant_available.USD")
        == cents(report.net)
        == 1400 - 15
    )
    assert await available_cents(accounts_stub, metadata, "fee_revenue.USD") == cents(report.fees)
    await assert_ledger_consistent(services.pool, api.merchant_id)


async def test_fee_rules_are_checked_and_a_bad_request_changes_nothing(
    api: Api, accounts_stub: Stub, superadmin_metadata: Metadata, services: Services
) -> None:
    await expect_invalid(
        _set_fees(
            accounts_stub,
            superadmin_metadata,
            acc.FeeRule(method="crypto"),
            acc.FeeRule(method="card", bps=10_001),
            acc.FeeRule(method="card", fixed_minor=-1),
            request_id="",
        ),
        "request_id",
        "rules[0].method",
        "rules[1].bps",
        "rules[2].method",
        "rules[2].fixed_minor",
    )
    kept = await services.pool.fetchval(
        "SELECT count(*) FROM ledger_fee_rules WHERE merchant_id = $1", api.merchant_id
    )
    assert kept == 0
