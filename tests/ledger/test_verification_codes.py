"""Verification codes end to end: a stepped-up wallet payment waits for its customer's code.

Real PostgreSQL and Redis. The rules step up wallet payments of 40.00 or more
(``thresholds.step_up = 20``, a 25-point rule); the wallet belongs to a
customer with an email, where the sandbox sender "sends" the code (kept in
memory: ``SandboxCodeSender.received``, in-process only).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from core.app import Services
from core.config import ChannelSettings, RiskSettings, Settings
from core.service.payments.code_sender import SandboxCodeSender
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc, customer_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import customer_service_pb2 as cus
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.auth import Metadata, merchant_metadata
from tests.support.expect import expect_error, expect_invalid
from tests.support.polling import eventually
from tests.support.requests import cents, new_request_id, usd
from tests.support.serving import serve_paycore

from .conftest import book_opening_balance
from .invariants import assert_ledger_consistent

S = pb.Payment
RULES = """
[thresholds]
step_up = 20
review = 50
decline = 80

[[rule]]
id = "medium_wallet_payment"
description = "A wallet payment of 40.00 or more: its customer enters a code"
when = [["method", "==", "wallet"], ["amount", ">=", 4000]]
score = 25
"""


@dataclass
class Wallets:
    """A served paycore, one merchant's customer wallet holding 200.00, and its stubs."""

    services: Services
    merchant_id: str
    metadata: Metadata
    accounts: Any
    payments: Any
    wallet: str

    @property
    def sender(self) -> SandboxCodeSender:
        verification = self.services.payments.verification
        assert verification is not None
        assert isinstance(verification.sender, SandboxCodeSender)
        return verification.sender

    async def pay(self, units: int, request_id: str = "") -> pb.Payment:
        request = acc.PayFromWalletRequest(
            request_id=request_id or new_request_id(), account_id=self.wallet, amount=usd(units)
        )
        return (await self.accounts.PayFromWallet(request, metadata=self.metadata)).payment

    def code(self, payment: pb.Payment) -> str:
        received = self.sender.received(payment.id)
        assert received is not None
        destination, code = received
        assert destination == "jane@example.com"
        return code

    async def submit(self, payment_id: str, code: str, request_id: str = "") -> pb.Payment:
        request = svc.VerifyPaymentCodeRequest(
            request_id=request_id or new_request_id(), payment_id=payment_id, code=code
        )
        return (await self.payments.VerifyPaymentCode(request, metadata=self.metadata)).payment

    async def get(self, payment_id: str) -> pb.Payment:
        request = svc.GetPaymentRequest(payment_id=payment_id)
        return (await self.payments.GetPayment(request, metadata=self.metadata)).payment

    async def available(self) -> int:
        request = acc.GetAccountRequest(account_id=self.wallet)
        account = (await self.accounts.GetAccount(request, metadata=self.metadata)).account
        return cents(account.balance.available)


WalletServer = Callable[..., AbstractAsyncContextManager[Wallets]]


@pytest.fixture
def wallet_server(settings: Settings, merchant_id: str, tmp_path: Path) -> WalletServer:
    """Start a paycore whose codes expire after ``expiry_s`` (swept every 0.1 s)."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)

    @asynccontextmanager
    async def start(expiry_s: float = 600.0) -> AsyncIterator[Wallets]:
        own = settings.replace(
            risk=RiskSettings(rules_file=str(rules), rules_poll_interval_s=0),
            channels=ChannelSettings(
                verification_code_expiry_s=expiry_s, three_ds_sweep_interval_s=0.1
            ),
        )
        async with serve_paycore(own) as paycore:
            services = paycore.services
            metadata = await merchant_metadata(services.pool, merchant_id)
            customers = paycore.stub(customer_service_pb2_grpc.CustomerServiceStub)
            customer = await customers.CreateCustomer(
                cus.CreateCustomerRequest(request_id=new_request_id(), email="jane@example.com"),
                metadata=metadata,
            )
            accounts = paycore.stub(account_service_pb2_grpc.AccountServiceStub)
            created = await accounts.CreateAccount(
                acc.CreateAccountRequest(
                    request_id=new_request_id(),
                    currency_code="USD",
                    customer_id=customer.customer.id,
                ),
                metadata=metadata,
            )
            wallet = created.account.id
            await book_opening_balance(services.pool, merchant_id, wallet, 20_000)
            payments = paycore.stub(payment_service_pb2_grpc.PaymentServiceStub)
            yield Wallets(services, merchant_id, metadata, accounts, payments, wallet)

    return start


@pytest.fixture
async def wallets(wallet_server: WalletServer) -> AsyncIterator[Wallets]:
    async with wallet_server() as started:
        yield started


async def test_a_stepped_up_wallet_payment_waits_for_a_code_sent_to_its_customer(
    wallets: Wallets,
) -> None:
    payment = await wallets.pay(45)

    assert payment.state == S.STATE_REQUIRES_ACTION, payment
    assert payment.risk.decision == pb.RiskAssessment.DECISION_STEP_UP
    step = payment.next_action.verify_code
    assert (step.sent_to, step.attempts_left) == ("j***@example.com", 5)
    assert payment.next_action.HasField("expire_time")
    assert wallets.code(payment).isdigit()
    assert (await wallets.get(payment.id)).next_action == payment.next_action
    assert await wallets.available() == 20_000  # nothing moves before the code
    # A payment below the band pays at once, as before.
    assert (await wallets.pay(30)).state == S.STATE_CAPTURED


async def test_the_right_code_pays_from_the_wallet(wallets: Wallets) -> None:
    payment = await wallets.pay(45)

    paid = await wallets.submit(payment.id, wallets.code(payment))

    assert paid.state == S.STATE_CAPTURED
    assert not paid.HasField("next_action")
    assert await wallets.available() == 20_000 - 4_500
    await assert_ledger_consistent(wallets.services.pool, wallets.merchant_id)
    rows = await wallets.services.pool.fetch(
        "SELECT type FROM events WHERE resource_id = $1 ORDER BY sequence", payment.id
    )
    types = [row["type"] for row in rows]
    assert types.index("payment.requires_action") < types.index("payment.succeeded")


async def test_wrong_codes_until_lockout_decline_the_payment_and_move_nothing(
    wallets: Wallets,
) -> None:
    payment = await wallets.pay(45)
    right = wallets.code(payment)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    for left in (4, 3, 2, 1):
        waiting = await wallets.submit(payment.id, wrong)
        assert waiting.state == S.STATE_REQUIRES_ACTION
        assert waiting.next_action.verify_code.attempts_left == left
    locked = await wallets.submit(payment.id, wrong)

    assert (locked.state, locked.failure.code) == (S.STATE_DECLINED, "verification_failed")
    # Locked out: even the right code is refused now, and changes nothing.
    await expect_error(
        wallets.submit(payment.id, right),
        grpc.StatusCode.FAILED_PRECONDITION,
        "VERIFICATION_NOT_PENDING",
    )
    assert (await wallets.get(payment.id)).state == S.STATE_DECLINED
    assert await wallets.available() == 20_000


async def test_an_unanswered_code_expires_and_a_late_code_is_refused(
    wallet_server: WalletServer,
) -> None:
    async with wallet_server(expiry_s=0.3) as wallets:
        payment = await wallets.pay(45)
        code = wallets.code(payment)

        async def canceled() -> pb.Payment | None:
            read = await wallets.get(payment.id)
            return read if read.state == S.STATE_CANCELED else None

        ended = await eventually(canceled, what="the expiry sweep cancels the payment")
        assert ended.failure.code == "verification_expired"
        await expect_error(
            wallets.submit(payment.id, code),
            grpc.StatusCode.FAILED_PRECONDITION,
            "VERIFICATION_NOT_PENDING",
        )
        assert await wallets.available() == 20_000


async def test_a_replayed_submit_is_answered_once(wallets: Wallets) -> None:
    payment = await wallets.pay(45)
    right = wallets.code(payment)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    first = await wallets.submit(payment.id, wrong, request_id="req_wrong_1")
    again = await wallets.submit(payment.id, wrong, request_id="req_wrong_1")
    assert first == again
    assert again.next_action.verify_code.attempts_left == 4  # one attempt spent, not two

    paid = await wallets.submit(payment.id, right, request_id="req_right_1")
    replayed = await wallets.submit(payment.id, right, request_id="req_right_1")
    assert paid == replayed
    assert replayed.state == S.STATE_CAPTURED
    assert await wallets.available() == 20_000 - 4_500  # debited once
    # The same request_id with another code is another request: refused.
    await expect_error(
        wallets.submit(payment.id, wrong, request_id="req_right_1"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IDEMPOTENCY_KEY_REUSED",
    )


async def test_a_malformed_code_is_invalid_and_costs_no_attempt(wallets: Wallets) -> None:
    payment = await wallets.pay(45)

    await expect_invalid(wallets.submit(payment.id, "12ab"), "code")

    assert (await wallets.get(payment.id)).next_action.verify_code.attempts_left == 5


async def test_the_merchant_may_cancel_a_payment_waiting_for_its_code(wallets: Wallets) -> None:
    payment = await wallets.pay(45)
    request = svc.CancelPaymentRequest(request_id=new_request_id(), payment_id=payment.id)

    canceled = (await wallets.payments.CancelPayment(request, metadata=wallets.metadata)).payment

    assert canceled.state == S.STATE_CANCELED
    await expect_error(
        wallets.submit(payment.id, wallets.code(payment)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "VERIFICATION_NOT_PENDING",
    )


async def test_a_code_is_neither_logged_nor_stored(
    wallets: Wallets, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    payment = await wallets.pay(45)
    code = wallets.code(payment)
    await wallets.submit(payment.id, f"{(int(code) + 1) % 1_000_000:06d}")
    await wallets.submit(payment.id, code)

    assert code not in caplog.text
    row = await wallets.services.pool.fetchrow(
        "SELECT * FROM payment_verification_codes WHERE payment_id = $1", payment.id
    )
    assert row is not None
    assert all(code not in str(value) for value in row.values())
    assert not row["open"]


async def test_concurrent_submits_are_applied_one_at_a_time(wallets: Wallets) -> None:
    payment = await wallets.pay(45)
    right = wallets.code(payment)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    await asyncio.gather(*(wallets.submit(payment.id, wrong) for _ in range(2)))
    assert (await wallets.get(payment.id)).next_action.verify_code.attempts_left == 3

    outcomes = await asyncio.gather(
        *(wallets.submit(payment.id, right) for _ in range(3)), return_exceptions=True
    )
    paid = [o for o in outcomes if isinstance(o, pb.Payment)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert [p.state for p in paid] == [S.STATE_CAPTURED]
    assert [e.code() for e in refused] == [grpc.StatusCode.FAILED_PRECONDITION] * 2
    assert await wallets.available() == 20_000 - 4_500  # debited once
    await assert_ledger_consistent(wallets.services.pool, wallets.merchant_id)
