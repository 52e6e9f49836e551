"""Withdrawals through the bank channel: signed notifications at the ingress, status queries.

Servers of their own, each with the (simulated) bank's payout desk answering
after 50 ms: through the callbacks ingress (RSA-signed notifications) or,
with the ingress off, only through payout status queries.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientSession
from cryptography.hazmat.primitives.asymmetric import rsa

from core.api.server import PaycoreServer
from core.app import Services
from core.config import LedgerSettings, Settings
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc
from router.channels.bank_payouts import PAYOUTS_PATH, PayoutAnswer, PayoutStatus, answer_to_wire
from router.signing import SIGNATURE_HEADER, sign_rsa
from tests.support.auth import Metadata, merchant_metadata
from tests.support.polling import eventually
from tests.support.requests import cents, new_request_id, usd
from tests.support.serving import serve_paycore

from .conftest import book_opening_balance
from .invariants import assert_ledger_consistent

AVAILABLE = "merchant_available.USD"
IBAN = "DE89370400440532013000"
W = acc.Withdrawal


@dataclass
class Bank:
    """A server with its bank, the stub and a merchant's key."""

    stub: Any
    services: Services
    server: PaycoreServer
    metadata: Metadata
    merchant_id: str

    async def withdraw(self, units: int, cents: int = 0) -> Any:
        request = acc.WithdrawFundsRequest(
            request_id=new_request_id(),
            account_id=AVAILABLE,
            amount=usd(units, cents),
            bank_account=IBAN,
        )
        return (await self.stub.WithdrawFunds(request, metadata=self.metadata)).withdrawal

    async def get(self, withdrawal_id: str) -> Any:
        request = acc.GetWithdrawalRequest(withdrawal_id=withdrawal_id)
        return (await self.stub.GetWithdrawal(request, metadata=self.metadata)).withdrawal

    async def available(self) -> tuple[int, int]:
        """(available, pending debits) of the available balance, in cents."""
        request = acc.GetAccountRequest(account_id=AVAILABLE)
        balance = (await self.stub.GetAccount(request, metadata=self.metadata)).account.balance
        return cents(balance.available), cents(balance.pending_debits)

    async def post(self, body: bytes, signature: str) -> tuple[int, str]:
        url = f"http://127.0.0.1:{self.server.callbacks_port}{PAYOUTS_PATH}"
        async with (
            ClientSession() as session,
            session.post(url, data=body, headers={SIGNATURE_HEADER: signature}) as answer,
        ):
            return answer.status, await answer.text()


async def _bank(settings: Settings, merchant_id: str, **ledger: Any) -> AsyncIterator[Bank]:
    own = settings.replace(
        ledger=LedgerSettings(payout_settle_after_s=0.05, **ledger),
        callbacks_enabled=True,
        callbacks_port=0,
    )
    async with serve_paycore(own) as paycore:
        services = paycore.services
        metadata = await merchant_metadata(services.pool, merchant_id)
        await book_opening_balance(services.pool, merchant_id, AVAILABLE, 10_000)
        stub = paycore.stub(account_service_pb2_grpc.AccountServiceStub)
        yield Bank(stub, services, paycore.server, metadata, merchant_id)


@pytest.fixture
async def notified(settings: Settings, merchant_id: str) -> AsyncIterator[Bank]:
    """The bank answers by signed notification only (no status queries)."""
    async for bank in _bank(settings, merchant_id, payout_poll_interval_s=0):
        yield bank


@pytest.fixture
async def queried(settings: Settings, merchant_id: str) -> AsyncIterator[Bank]:
    """The bank's notifications go nowhere; status queries are run by the test."""
    async for bank in _bank(
        settings, merchant_id, payout_poll_interval_s=0, payout_query_schedule_s="0,0,0"
    ):
        bank.services.payouts.desk.notify_url = ""
        yield bank


async def test_the_banks_signed_notification_pays_out_or_releases(notified: Bank) -> None:
    paid, refused = await notified.withdraw(30), await notified.withdraw(10, 99)
    assert paid.state == refused.state == W.STATE_PENDING
    assert paid.risk.decision == paid.risk.DECISION_APPROVE

    async def settled() -> bool:
        states = {(await notified.get(w.id)).state for w in (paid, refused)}
        return W.STATE_PENDING not in states

    await eventually(settled, what="the bank's notifications")
    paid, refused = await notified.get(paid.id), await notified.get(refused.id)
    assert (paid.state, paid.bank_reference) == (W.STATE_SUCCEEDED, f"po_{paid.id[3:]}")
    assert (refused.state, refused.failure.code) == (W.STATE_FAILED, "payout_refused")
    assert await notified.available() == (10_000 - 3_000, 0)  # the refused 10.99 came back
    await assert_ledger_consistent(notified.services.pool, notified.merchant_id)


async def test_a_notification_is_applied_once_and_in_any_order(notified: Bank) -> None:
    withdrawal = await notified.withdraw(30)

    async def done() -> bool:
        return (await notified.get(withdrawal.id)).state == W.STATE_SUCCEEDED

    await eventually(done, what="the bank's notification")
    desk = notified.services.payouts.desk  # genuine notifications, signed by the bank
    m = notified.merchant_id
    late = [
        PayoutAnswer(withdrawal.id, m, PayoutStatus.PAID, reference="po_again"),  # duplicate
        PayoutAnswer(withdrawal.id, m, PayoutStatus.PENDING),  # out of order
        PayoutAnswer(withdrawal.id, m, PayoutStatus.REFUSED, failure_code="payout_refused"),
    ]
    for answer in late:
        body = json.dumps(answer_to_wire(answer)).encode()
        assert await notified.post(body, desk.sign(body, int(time.time()))) == (
            200,
            "[accepted]",
        )
    after = await notified.get(withdrawal.id)
    assert (after.state, after.bank_reference) == (W.STATE_SUCCEEDED, f"po_{withdrawal.id[3:]}")
    assert await notified.available() == (7_000, 0)
    await assert_ledger_consistent(notified.services.pool, m)


async def test_a_badly_signed_or_unknown_notification_changes_nothing(queried: Bank) -> None:
    withdrawal = await queried.withdraw(30)
    answer = PayoutAnswer(withdrawal.id, queried.merchant_id, PayoutStatus.REFUSED)
    body = json.dumps(answer_to_wire(answer)).encode()
    now = int(time.time())
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bank = queried.services.payouts.desk
    assert (await queried.post(body, sign_rsa(forger, body, now)))[0] == 401
    assert (await queried.post(body, "t=1,rsa=AAAA"))[0] == 401
    assert (await queried.post(body, bank.sign(body, now - 3600)))[0] == 401  # stale
    tampered = body.replace(b"refused", b"paid")
    assert (await queried.post(tampered, bank.sign(body, now)))[0] == 401
    stranger = PayoutAnswer("wd_01JC0000000000000000000000", queried.merchant_id, PayoutStatus.PAID)
    unknown = json.dumps(answer_to_wire(stranger)).encode()
    assert (await queried.post(unknown, bank.sign(unknown, now)))[0] == 404
    assert (await queried.get(withdrawal.id)).state == W.STATE_PENDING
    assert await queried.available() == (7_000, 3_000)  # still held


async def test_a_status_query_settles_a_payout_whose_notification_never_came(
    queried: Bank,
) -> None:
    withdrawal = await queried.withdraw(30)
    queries = queried.services.payouts.queries

    desk = queried.services.payouts.desk
    await eventually(lambda: desk.payouts[withdrawal.id].status.is_final, what="the bank")
    assert await queries.run_once() >= 1  # (withdrawals of earlier tests may be due too)
    assert (await queried.get(withdrawal.id)).state == W.STATE_SUCCEEDED
    assert await queried.available() == (7_000, 0)
    await assert_ledger_consistent(queried.services.pool, queried.merchant_id)


async def test_a_payout_the_bank_never_received_is_submitted_again(queried: Bank) -> None:
    desk = queried.services.payouts.desk
    withdrawal = await queried.withdraw(20)
    # As if paycore crashed between its commit and the submit: the bank has nothing.
    await desk.close()
    desk.payouts.clear()
    assert await queried.services.payouts.queries.run_once() >= 1
    assert desk.payouts[withdrawal.id].status is PayoutStatus.PENDING  # submitted again

    await eventually(lambda: desk.payouts[withdrawal.id].status.is_final, what="the bank")
    assert await queried.services.payouts.queries.run_once() >= 1
    assert (await queried.get(withdrawal.id)).state == W.STATE_SUCCEEDED
    assert await queried.available() == (8_000, 0)  # paid out once


async def test_a_payout_never_answered_is_left_visibly_pending_for_a_person(
    queried: Bank,
) -> None:
    desk = queried.services.payouts.desk
    withdrawal = await queried.withdraw(20)
    await desk.close()  # the bank takes the payout but never settles it
    for _ in range(2):  # the schedule "0,0,0": three queries, then a person
        await queried.services.payouts.queries.run_once()
        assert not (await queried.get(withdrawal.id)).needs_attention
    await queried.services.payouts.queries.run_once()
    stuck = await queried.get(withdrawal.id)
    assert (stuck.state, stuck.needs_attention) == (W.STATE_PENDING, True)
    assert await queried.available() == (8_000, 2_000)  # the money stays held
