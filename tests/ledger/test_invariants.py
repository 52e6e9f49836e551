"""The ledger's invariants over random sequences of operations, against real PostgreSQL.

Each example is a fresh merchant running a random sequence of payments
(automatic and manual capture, partial captures, voids, refunds that succeed
or fail, declines), wallets, opening balances and transfers, through the
real gRPC API. After the sequence, ``assert_ledger_consistent`` checks every
invariant of issue 6, and a plain model of the wallets checks that every
transfer was refused exactly when the source lacked the money.

The suite runs a modest number of examples (25 sequences of up to 15
operations); bench/ledger_soak.py runs many more (LEDGER_EXAMPLES /
LEDGER_STEPS override the counts).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.app import Services
from core.ledger.fees import FeeRule
from core.ledger.settlement import SettlementDay
from core.storage.ledger_store import PostgresLedgerStore
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2_grpc
from tests.e2e.helpers import (
    CARD_DECLINED,
    REFUND_FAILS,
    VISA,
    Api,
    card,
    error_info,
    manual_capture,
    new_request_id,
    usd,
)
from tests.support.auth import merchant_metadata

from .conftest import book_opening_balance
from .invariants import assert_ledger_consistent

if TYPE_CHECKING:
    from paycore.v1 import account_service_pb2_grpc

    Stub = account_service_pb2_grpc.AccountServiceAsyncStub

EXAMPLES = int(os.environ.get("LEDGER_EXAMPLES", "25"))
STEPS = int(os.environ.get("LEDGER_STEPS", "15"))
STATS_FILE = os.environ.get("LEDGER_STATS_FILE", "")
"""bench/ledger_soak.py: append one line per example (operations run) to this file."""
AVAILABLE = "merchant_available.USD"

_cents = st.integers(min_value=1, max_value=3_000)
_pick = st.integers(min_value=0, max_value=50)
OPERATIONS = st.one_of(
    st.tuples(st.just("pay"), _cents, st.sampled_from([VISA, REFUND_FAILS, CARD_DECLINED])),
    st.tuples(st.just("authorize"), _cents, st.just(VISA)),
    st.tuples(st.just("capture"), _pick, st.integers(min_value=1, max_value=100)),
    st.tuples(st.just("void"), _pick, st.just(0)),
    st.tuples(st.just("refund"), _pick, _cents),
    st.tuples(st.just("wallet"), st.just(0), st.just(0)),
    st.tuples(st.just("fund"), _pick, _cents),
    st.tuples(st.just("transfer"), _pick, _cents),
    st.tuples(st.just("settle"), st.integers(min_value=0, max_value=1), st.just(0)),
    st.tuples(st.just("top_up"), _pick, _cents),
    st.tuples(st.just("pay_from_wallet"), _pick, _cents),
    st.tuples(st.just("withdraw"), _pick, _cents),
    st.tuples(st.just("bank_answer"), _pick, st.booleans()),
)


@dataclass
class Model:
    """What the sequence did, as far as the test needs to pick targets and predict balances."""

    authorized: list[pb.Payment] = field(default_factory=list)
    captured: list[pb.Payment] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=lambda: {AVAILABLE: 0})
    withdrawals: list[tuple[str, str, int]] = field(default_factory=list)
    """Pending withdrawals: (id, account, cents)."""
    paid_from: dict[str, str] = field(default_factory=dict)
    """Payment id -> the wallet that paid it (its refunds credit that wallet)."""

    def wallet(self, number: int) -> str | None:
        """The ``number``-th wallet (cyclically), if any."""
        wallets = sorted(w for w in self.balances if w != AVAILABLE)
        return wallets[number % len(wallets)] if wallets else None


def _cents_of(money: Any) -> int:
    return int(money.units) * 100 + int(money.nanos) // 10_000_000


async def _run(
    op: tuple[str, int, Any], api: Api, accounts: Stub, services: Services, model: Model
) -> None:
    name, number, extra = op
    meta = api.metadata
    if name in ("pay", "authorize"):
        fields: dict[str, Any] = {
            "amount": usd(*divmod(number, 100)),
            "payment_method": card(extra),
        }
        payment = await api.create(**(manual_capture(**fields) if name == "authorize" else fields))
        if payment.state == pb.Payment.STATE_AUTHORIZED:
            model.authorized.append(payment)
        elif payment.state == pb.Payment.STATE_CAPTURED:
            model.captured.append(payment)
    elif name in ("capture", "void") and model.authorized:
        payment = model.authorized.pop(number % len(model.authorized))
        if name == "void":
            await api.cancel(payment.id)
            return
        part = max(1, _cents_of(payment.amount) * extra // 100)
        model.captured.append(await api.capture(payment.id, usd(*divmod(part, 100))))
    elif name == "refund" and model.captured:
        payment = model.captured[number % len(model.captured)]
        try:
            refund = await api.refund(payment.id, usd(*divmod(extra, 100)))
        except grpc.aio.AioRpcError as error:
            assert error_info(error).reason in (
                "REFUND_EXCEEDS_CAPTURED",
                "PAYMENT_NOT_REFUNDABLE",
                "TOP_UP_NOT_REFUNDABLE",
            )
        else:
            wallet = model.paid_from.get(payment.id)
            if wallet and refund.refund.state == pb.Refund.STATE_SUCCEEDED:
                model.balances[wallet] += extra
    elif name == "top_up" and (wallet := model.wallet(number)):
        top_up = acc.TopUpWalletRequest(
            request_id=new_request_id(),
            account_id=wallet,
            amount=usd(*divmod(extra, 100)),
            payment_method=card(),
        )
        payment = (await accounts.TopUpWallet(top_up, metadata=meta)).payment
        assert payment.state == pb.Payment.STATE_CAPTURED
        model.balances[wallet] += extra
        model.captured.append(payment)  # refusing its refund is part of the test
    elif name == "pay_from_wallet" and (wallet := model.wallet(number)):
        pay = acc.PayFromWalletRequest(
            request_id=new_request_id(), account_id=wallet, amount=usd(*divmod(extra, 100))
        )
        try:
            paid = (await accounts.PayFromWallet(pay, metadata=meta)).payment
        except grpc.aio.AioRpcError as error:
            assert error_info(error).reason == "INSUFFICIENT_FUNDS"
            assert model.balances[wallet] < extra, "refused a payment the wallet could pay"
        else:
            assert model.balances[wallet] >= extra, "a wallet paid beyond its balance"
            model.balances[wallet] -= extra
            model.paid_from[paid.id] = wallet
            model.captured.append(paid)
    elif name == "wallet":
        opening = acc.CreateAccountRequest(request_id=new_request_id(), currency_code="USD")
        account = (await accounts.CreateAccount(opening, metadata=meta)).account
        model.balances[account.id] = 0
    elif name == "fund":
        target = sorted(model.balances)[number % len(model.balances)]
        await book_opening_balance(services.pool, api.merchant_id, target, extra)
        model.balances[target] += extra
    elif name == "settle":
        # Settle "today" (a second settlement of the same day returns the
        # first), or a later day so that items left over are settled too.
        day = SettlementDay(
            api.merchant_id, "USD", datetime.now(UTC).date() + timedelta(days=number)
        )
        before = await PostgresLedgerStore(services.pool).settlement(day)
        record = await PostgresLedgerStore(services.pool).settle_alone(
            day, FeeRule(290, 30), datetime.now(UTC)
        )
        if before is None and record.settled:
            model.balances[AVAILABLE] += record.figures.net
    elif name == "withdraw":
        source = sorted(model.balances)[number % len(model.balances)]
        withdraw = acc.WithdrawFundsRequest(
            request_id=new_request_id(),
            account_id=source,
            amount=usd(*divmod(extra, 100)),
            bank_account="DE89370400440532013000",
        )
        try:
            made = (await accounts.WithdrawFunds(withdraw, metadata=meta)).withdrawal
        except grpc.aio.AioRpcError as error:
            assert error_info(error).reason in ("INSUFFICIENT_FUNDS", "ACCOUNT_NOT_FOUND")
            assert model.balances[source] < extra, "refused a withdrawal the account could pay"
        else:
            assert model.balances[source] >= extra, "withdrew beyond the balance"
            model.balances[source] -= extra  # held at once
            model.withdrawals.append((made.id, source, extra))
    elif name == "bank_answer" and model.withdrawals:
        withdrawal_id, source, cents = model.withdrawals.pop(number % len(model.withdrawals))
        await services.accounts.complete_withdrawal(api.merchant_id, withdrawal_id, bool(extra))
        if not extra:
            model.balances[source] += cents  # the hold is released
    elif name == "transfer" and len(model.balances) > 1:
        ids = sorted(model.balances)
        source, target = ids[number % len(ids)], ids[(number + 1) % len(ids)]
        request = acc.TransferFundsRequest(
            request_id=new_request_id(),
            from_account_id=source,
            to_account_id=target,
            amount=usd(*divmod(extra, 100)),
        )
        try:
            await accounts.TransferFunds(request, metadata=meta)
        except grpc.aio.AioRpcError as error:
            assert error_info(error).reason == "INSUFFICIENT_FUNDS"
            assert model.balances[source] < extra, "refused a transfer the source could pay"
        else:
            assert model.balances[source] >= extra, "allowed a transfer beyond the balance"
            model.balances[source] -= extra
            model.balances[target] += extra


def _record_stats(operations: int) -> None:
    with open(STATS_FILE, "a") as stats:
        stats.write(f"{operations}\n")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATIONS, min_size=max(1, STEPS // 3), max_size=STEPS))
async def test_random_sequences_keep_every_ledger_invariant(
    operations: list[tuple[str, int, Any]],
    stub: payment_service_pb2_grpc.PaymentServiceStub,
    accounts_stub: Stub,
    services: Services,
) -> None:
    merchant_id = f"m_{uuid.uuid4().hex[:16]}"  # a fresh merchant per example
    api = Api(stub, merchant_id, await merchant_metadata(services.pool, merchant_id))
    model = Model()
    for op in operations:
        await _run(op, api, accounts_stub, services, model)
    await assert_ledger_consistent(services.pool, merchant_id)
    if STATS_FILE:
        await asyncio.to_thread(_record_stats, len(operations))
    for account_id, expected in model.balances.items():
        try:
            response = await accounts_stub.GetAccount(
                acc.GetAccountRequest(account_id=account_id), metadata=api.metadata
            )
        except grpc.aio.AioRpcError:
            assert expected == 0  # the available balance opens on first use
            continue
        assert _cents_of(response.account.balance.available) == expected, account_id


async def test_the_invariant_check_catches_a_balance_that_drifted(
    services: Services, merchant_id: str
) -> None:
    """The checker itself: a balance changed without an entry is reported."""
    await book_opening_balance(services.pool, merchant_id, AVAILABLE, 500)
    await assert_ledger_consistent(services.pool, merchant_id)
    await services.pool.execute(
        "UPDATE ledger_accounts SET credits_posted = credits_posted + 1"
        " WHERE merchant_id = $1 AND id = $2",
        merchant_id,
        AVAILABLE,
    )
    try:
        await assert_ledger_consistent(services.pool, merchant_id)
    except AssertionError as error:
        assert "balances differ from their entries" in str(error)
    else:
        raise AssertionError("a drifted balance went unnoticed")
