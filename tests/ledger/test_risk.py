"""Withdrawals and wallet payments are scored by the risk engine, like payments.

A server of its own with a rules file that holds withdrawals of 50.00 or more
for review, declines those of 90.00 or more, and declines wallet payments of
90.00 or more, reviews those of 50.00 or more and asks for step-up from 40.00 (a
withdrawal in the step-up band waits for review)
(method ``withdrawal`` and ``wallet`` in the rules' features).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from core.app import Services
from core.auth.policy import Role
from core.config import RiskSettings, Settings
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from tests.support.auth import Metadata, merchant_metadata
from tests.support.expect import expect_error
from tests.support.requests import cents, new_request_id, usd
from tests.support.serving import serve_paycore

from .conftest import book_opening_balance
from .invariants import assert_ledger_consistent

AVAILABLE = "merchant_available.USD"
IBAN = "DE89370400440532013000"
W = acc.Withdrawal

RULES = """
[thresholds]
step_up = 20
review = 50
decline = 80

[[rule]]
id = "large_withdrawal"
description = "A withdrawal of 50.00 or more: a person looks first"
when = [["method", "==", "withdrawal"], ["amount", ">=", 5000]]
score = 10
action = "review"

[[rule]]
id = "huge_withdrawal"
description = "A withdrawal of 90.00 or more"
when = [["method", "==", "withdrawal"], ["amount", ">=", 9000]]
score = 100
action = "block"

[[rule]]
id = "large_wallet_payment"
description = "A wallet payment of 50.00 or more: a person would look first"
when = [["method", "==", "wallet"], ["amount", ">=", 5000]]
score = 10
action = "review"

[[rule]]
id = "medium_withdrawal"
description = "A withdrawal from 40.00 to 49.99: in the step-up band"
when = [["method", "==", "withdrawal"], ["amount", ">=", 4000], ["amount", "<", 5000]]
score = 25

[[rule]]
id = "medium_wallet_payment"
description = "A wallet payment of 40.00 or more: its customer should authenticate"
when = [["method", "==", "wallet"], ["amount", ">=", 4000]]
score = 25

[[rule]]
id = "huge_wallet_payment"
description = "A wallet payment of 90.00 or more"
when = [["method", "==", "wallet"], ["amount", ">=", 9000]]
score = 100
action = "block"
"""


@dataclass
class Scored:
    stub: Any
    services: Services
    metadata: Metadata
    admin: Metadata
    merchant_id: str

    async def withdraw(self, units: int) -> Any:
        request = acc.WithdrawFundsRequest(
            request_id=new_request_id(),
            account_id=AVAILABLE,
            amount=usd(units),
            bank_account=IBAN,
        )
        return (await self.stub.WithdrawFunds(request, metadata=self.metadata)).withdrawal

    async def available(self) -> tuple[int, int]:
        request = acc.GetAccountRequest(account_id=AVAILABLE)
        balance = (await self.stub.GetAccount(request, metadata=self.metadata)).account.balance
        return cents(balance.available), cents(balance.pending_debits)


@pytest.fixture
async def scored(settings: Settings, merchant_id: str, tmp_path: Path) -> AsyncIterator[Scored]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    risk = RiskSettings(rules_file=str(rules), rules_poll_interval_s=0)
    async with serve_paycore(settings.replace(risk=risk)) as paycore:
        services = paycore.services
        metadata = await merchant_metadata(services.pool, merchant_id)
        admin = await merchant_metadata(services.pool, merchant_id, Role.ADMIN)
        await book_opening_balance(services.pool, merchant_id, AVAILABLE, 50_000)
        stub = paycore.stub(account_service_pb2_grpc.AccountServiceStub)
        yield Scored(stub, services, metadata, admin, merchant_id)


async def test_a_withdrawal_risk_declines_holds_nothing_and_never_reaches_the_bank(
    scored: Scored,
) -> None:
    declined = await scored.withdraw(95)
    assert (declined.state, declined.failure.code) == (W.STATE_DECLINED, "risk_declined")
    assert (declined.risk.decision, declined.risk.score) == (
        pb.RiskAssessment.DECISION_DECLINE,
        100,
    )
    assert await scored.available() == (50_000, 0)
    assert declined.id not in scored.services.payouts.desk.payouts
    await assert_ledger_consistent(scored.services.pool, scored.merchant_id)


async def test_a_withdrawal_held_for_review_is_held_until_an_admin_decides(
    scored: Scored,
) -> None:
    approved, rejected = await scored.withdraw(60), await scored.withdraw(70)
    assert approved.state == rejected.state == W.STATE_REQUIRES_REVIEW
    assert approved.risk.decision == pb.RiskAssessment.DECISION_REVIEW
    assert await scored.available() == (50_000 - 13_000, 13_000)  # both held
    desk = scored.services.payouts.desk
    assert approved.id not in desk.payouts  # not sent before a person looked

    # A merchant key may not decide; an admin may, once.
    approve = acc.ApproveWithdrawalRequest(request_id=new_request_id(), withdrawal_id=approved.id)
    await expect_error(
        scored.stub.ApproveWithdrawal(approve, metadata=scored.metadata),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    )
    sent = (await scored.stub.ApproveWithdrawal(approve, metadata=scored.admin)).withdrawal
    assert sent.state == W.STATE_PENDING
    assert approved.id in desk.payouts  # now the bank has it
    reject = acc.RejectWithdrawalRequest(
        request_id=new_request_id(), withdrawal_id=rejected.id, note="payee unknown"
    )
    gone = (await scored.stub.RejectWithdrawal(reject, metadata=scored.admin)).withdrawal
    assert (gone.state, gone.failure.code, gone.failure.message) == (
        W.STATE_DECLINED,
        "risk_rejected",
        "payee unknown",
    )
    assert rejected.id not in desk.payouts
    assert await scored.available() == (50_000 - 6_000, 6_000)  # the rejected 70.00 is back

    # Deciding again: a replay answers the same; a new request is refused.
    again = await scored.stub.RejectWithdrawal(reject, metadata=scored.admin)
    assert again.withdrawal == gone
    for decided in (approved.id, rejected.id):
        await expect_error(
            scored.stub.RejectWithdrawal(
                acc.RejectWithdrawalRequest(request_id=new_request_id(), withdrawal_id=decided),
                metadata=scored.admin,
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "WITHDRAWAL_NOT_IN_REVIEW",
        )
    audited = await scored.services.pool.fetch(
        "SELECT action FROM audit_events WHERE merchant_id = $1 AND resource_type = 'withdrawal'"
        " ORDER BY action",
        scored.merchant_id,
    )
    assert [r["action"] for r in audited] == [
        "withdrawal_review.approve",
        "withdrawal_review.reject",
    ]
    await assert_ledger_consistent(scored.services.pool, scored.merchant_id)


async def test_a_wallet_payment_risk_declines_or_reviews_moves_nothing(scored: Scored) -> None:
    created = await scored.stub.CreateAccount(
        acc.CreateAccountRequest(request_id=new_request_id(), currency_code="USD"),
        metadata=scored.metadata,
    )
    wallet = created.account.id
    await book_opening_balance(scored.services.pool, scored.merchant_id, wallet, 20_000)

    async def pay(units: int) -> Any:
        request = acc.PayFromWalletRequest(
            request_id=new_request_id(), account_id=wallet, amount=usd(units)
        )
        return (await scored.stub.PayFromWallet(request, metadata=scored.metadata)).payment

    declined, reviewed, paid = await pay(95), await pay(60), await pay(30)
    stepped_up = await pay(45)
    assert (declined.state, declined.failure.code) == (pb.Payment.STATE_DECLINED, "risk_declined")
    assert declined.risk.decision == pb.RiskAssessment.DECISION_DECLINE
    assert (reviewed.state, reviewed.failure.code) == (
        pb.Payment.STATE_DECLINED,
        "risk_review_required",
    )
    assert reviewed.risk.decision == pb.RiskAssessment.DECISION_REVIEW
    # A wallet payment has no authentication step: one risk steps up is declined.
    assert (stepped_up.state, stepped_up.failure.code) == (
        pb.Payment.STATE_DECLINED,
        "authentication_required",
    )
    assert stepped_up.risk.decision == pb.RiskAssessment.DECISION_STEP_UP
    assert paid.state == pb.Payment.STATE_CAPTURED
    account = await scored.stub.GetAccount(
        acc.GetAccountRequest(account_id=wallet), metadata=scored.metadata
    )
    assert cents(account.account.balance.available) == 20_000 - 3_000
    await assert_ledger_consistent(scored.services.pool, scored.merchant_id)


async def test_a_withdrawal_risk_steps_up_waits_for_review(scored: Scored) -> None:
    # No customer is present at a withdrawal to authenticate: a person looks instead.
    stepped_up = await scored.withdraw(45)
    assert stepped_up.state == W.STATE_REQUIRES_REVIEW
    assert stepped_up.risk.decision == pb.RiskAssessment.DECISION_STEP_UP
    assert await scored.available() == (50_000 - 4_500, 4_500)  # held, as a review holds
    assert stepped_up.id not in scored.services.payouts.desk.payouts
