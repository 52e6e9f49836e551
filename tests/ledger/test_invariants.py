"""The ledger's invariants over random sequences of operations, against real PostgreSQL.

Each example is a fresh merchant running a random sequence of payments
(automatic and manual capture, partial captures, voids, refunds that succeed
or fail, declines), wallets, opening balances, transfers, top-ups, wallet
payments and withdrawals, and disputes of card payments (opened by the
channel's notice, won, lost or accepted), through the real gRPC API. Withdrawals and wallet
payments are scored by the risk engine (a wallet's customer may be put on
the blocklist: declined; a large first withdrawal is held for review, then
approved or rejected), and the bank answers withdrawals with RSA-signed
notifications posted to the real payout ingress, sometimes twice or
contradicting itself. After the sequence, ``assert_ledger_consistent``
checks every invariant of issue 6, and a plain model of the accounts checks
that every spend was refused exactly when the source lacked the money.

The suite runs a modest number of examples (25 sequences of up to 15
operations); bench/ledger_soak.py runs many more (LEDGER_EXAMPLES /
LEDGER_STEPS override the counts).

One file, over 400 lines, on purpose: it is one stateful property test. The
operations (``OPERATIONS``), the model of the accounts (``Model``) and the
interpreter that runs an operation against the server and the model
(``_run``) are one specification, read together; split, a reader would
check each operation's model update in one file against its RPC in another.
bench/ledger_soak.py runs this test by its node id.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from aiohttp import ClientSession
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.app import Services
from core.auth.policy import Role
from core.domain.disputes import ChannelVerdict, DisputeKind, DisputeNotice
from core.domain.money import Money
from core.ledger.fees import FeeRule
from core.ledger.settlement import SettlementDay
from core.service.disputes import NoticeOutcome
from core.storage.ledger_store import PostgresLedgerStore
from core.telemetry.http import HttpEndpoint
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import dispute_service_pb2 as dsvc
from paycore.v1 import dispute_service_pb2_grpc, payment_service_pb2_grpc, risk_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import risk_service_pb2 as risk_pb
from router.channels.bank_payouts import (
    PAYOUTS_PATH,
    PayoutAnswer,
    PayoutStatus,
    SimulatedPayoutDesk,
    answer_to_wire,
)
from router.signing import SIGNATURE_HEADER
from tests.support.api import Api
from tests.support.auth import Metadata, merchant_metadata
from tests.support.expect import error_info
from tests.support.requests import (
    CARD_DECLINED,
    REFUND_FAILS,
    VISA,
    card,
    manual_capture,
    new_merchant_id,
    new_request_id,
    usd,
)

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
W = acc.Withdrawal

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
    st.tuples(st.just("big_withdraw"), _pick, st.integers(min_value=250_000, max_value=260_000)),
    st.tuples(st.just("bank_answer"), _pick, st.booleans()),
    st.tuples(st.just("bank_replay"), _pick, st.booleans()),
    st.tuples(st.just("review"), _pick, st.booleans()),
    st.tuples(st.just("block"), _pick, st.just(0)),
    # A channel's first notice of a dispute is usually its opening; a verdict may come first.
    st.tuples(
        st.just("dispute"), _pick, st.tuples(_cents, st.sampled_from(["opened", "won", "lost"]))
    ),
    st.tuples(st.just("decide_dispute"), _pick, st.sampled_from(["won", "lost", "accept"])),
)


@dataclass
class Model:
    """What the sequence did, as far as the test needs to pick targets and predict balances."""

    authorized: list[pb.Payment] = field(default_factory=list)
    captured: list[pb.Payment] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=lambda: {AVAILABLE: 0})
    withdrawals: list[tuple[str, str, int]] = field(default_factory=list)
    """Pending withdrawals (sent to the bank): (id, account, cents)."""
    in_review: list[tuple[str, str, int]] = field(default_factory=list)
    """Withdrawals held by risk for review: (id, account, cents)."""
    answered: list[str] = field(default_factory=list)
    """Withdrawals the bank answered (a replay of an answer must change nothing)."""
    customers: dict[str, str] = field(default_factory=dict)
    """Wallet -> its customer id."""
    blocked: set[str] = field(default_factory=set)
    """Wallets whose customer is on the merchant's blocklist."""
    admin: Metadata = ()
    """The merchant's admin key (reviews, blocklist)."""
    paid_from: dict[str, str] = field(default_factory=dict)
    """Payment id -> the wallet that paid it (its refunds credit that wallet)."""
    by_card: list[pb.Payment] = field(default_factory=list)
    """Captured card payments (what a channel may dispute)."""
    disputes: list[tuple[pb.Payment, str]] = field(default_factory=list)
    """Disputes the channel opened and has not decided: (payment, the channel's reference)."""

    def wallet(self, number: int) -> str | None:
        """The ``number``-th wallet (cyclically), if any."""
        wallets = sorted(w for w in self.balances if w != AVAILABLE)
        return wallets[number % len(wallets)] if wallets else None


def _cents_of(money: Any) -> int:
    return int(money.units) * 100 + int(money.nanos) // 10_000_000


async def _open_wallet(accounts: Stub, meta: Metadata, model: Model) -> str:
    """A new wallet of a new customer."""
    customer = f"cus_{uuid.uuid4().hex[:12]}"
    opening = acc.CreateAccountRequest(
        request_id=new_request_id(), currency_code="USD", customer_id=customer
    )
    account = (await accounts.CreateAccount(opening, metadata=meta)).account
    model.balances[account.id] = 0
    model.customers[account.id] = customer
    return account.id


@dataclass
class Context:
    """What a sequence calls besides the merchant's own API: the back office, the bank."""

    risk: Any
    """RiskService stub (the blocklist)."""
    ingress_url: str
    """The payout notifications ingress (core/callbacks/payouts.py), served over HTTP."""
    desk: SimulatedPayoutDesk
    """The bank, whose key signs the notifications."""
    disputes: Any
    """DisputeService stub (accepting disputes)."""

    async def notify(self, merchant_id: str, withdrawal_id: str, *, paid: bool) -> None:
        """Post the bank's signed answer about a withdrawal; the ingress accepts it."""
        status = PayoutStatus.PAID if paid else PayoutStatus.REFUSED
        answer = PayoutAnswer(withdrawal_id, merchant_id, status, reference=f"po_{withdrawal_id}")
        body = json.dumps(answer_to_wire(answer)).encode()
        headers = {SIGNATURE_HEADER: self.desk.sign(body, int(time.time()))}
        async with (
            ClientSession() as session,
            session.post(self.ingress_url, data=body, headers=headers) as reply,
        ):
            assert (reply.status, await reply.text()) == (200, "[accepted]")


async def _run(
    op: tuple[str, int, Any],
    api: Api,
    accounts: Stub,
    services: Services,
    model: Model,
    *,
    ctx: Context,
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
            model.by_card.append(payment)
    elif name in ("capture", "void") and model.authorized:
        payment = model.authorized.pop(number % len(model.authorized))
        if name == "void":
            await api.cancel(payment.id)
            return
        part = max(1, _cents_of(payment.amount) * extra // 100)
        captured = await api.capture(payment.id, usd(*divmod(part, 100)))
        model.captured.append(captured)
        model.by_card.append(captured)
    elif name == "refund" and model.captured:
        payment = model.captured[number % len(model.captured)]
        try:
            refund = await api.refund(payment.id, usd(*divmod(extra, 100)))
        except grpc.aio.AioRpcError as error:
            assert error_info(error).reason in (
                "REFUND_EXCEEDS_CAPTURED",
                "PAYMENT_NOT_REFUNDABLE",
                "TOP_UP_NOT_REFUNDABLE",
                "PAYMENT_DISPUTED",
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
            if paid.state == pb.Payment.STATE_DECLINED:
                assert paid.failure.code == "risk_declined"
                return  # nothing moved
            assert wallet not in model.blocked, "a blocked customer's wallet paid"
            model.balances[wallet] -= extra
            model.paid_from[paid.id] = wallet
            model.captured.append(paid)
    elif name == "wallet":
        await _open_wallet(accounts, meta, model)
    elif name == "block" and (wallet := model.wallet(number)):
        entry = risk_pb.AddBlocklistEntryRequest(
            request_id=new_request_id(),
            list=risk_pb.BlocklistEntry.LIST_BLOCK,
            kind=risk_pb.BlocklistEntry.KIND_CUSTOMER_ID,
            value=model.customers[wallet],
        )
        await ctx.risk.AddBlocklistEntry(entry, metadata=model.admin)
        model.blocked.add(wallet)
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
    elif name in ("withdraw", "big_withdraw"):
        source = sorted(model.balances)[number % len(model.balances)]
        if name == "big_withdraw":  # a new customer's first 2,500.00 or more: held for review
            source = await _open_wallet(accounts, meta, model)
            await book_opening_balance(services.pool, api.merchant_id, source, extra)
            model.balances[source] += extra
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
            assert source not in model.blocked, "risk should have declined it first"
            return
        if source in model.blocked:
            assert (made.state, made.failure.code) == (W.STATE_DECLINED, "risk_declined")
        if made.state == W.STATE_DECLINED:
            return  # declined by risk: nothing held
        assert model.balances[source] >= extra, "withdrew beyond the balance"
        model.balances[source] -= extra  # held at once
        if made.state == W.STATE_REQUIRES_REVIEW:
            model.in_review.append((made.id, source, extra))
        else:
            assert made.state == W.STATE_PENDING
            model.withdrawals.append((made.id, source, extra))
    elif name == "review" and model.in_review:
        withdrawal_id, source, cents = model.in_review.pop(number % len(model.in_review))
        if extra:
            approve = acc.ApproveWithdrawalRequest(
                request_id=new_request_id(), withdrawal_id=withdrawal_id
            )
            await accounts.ApproveWithdrawal(approve, metadata=model.admin)
            model.withdrawals.append((withdrawal_id, source, cents))
        else:
            reject = acc.RejectWithdrawalRequest(
                request_id=new_request_id(), withdrawal_id=withdrawal_id
            )
            await accounts.RejectWithdrawal(reject, metadata=model.admin)
            model.balances[source] += cents  # the hold is released
    elif name == "bank_answer" and model.withdrawals:
        withdrawal_id, source, cents = model.withdrawals.pop(number % len(model.withdrawals))
        await ctx.notify(api.merchant_id, withdrawal_id, paid=bool(extra))
        model.answered.append(withdrawal_id)
        if not extra:
            model.balances[source] += cents  # the hold is released
    elif name == "bank_replay" and model.answered:
        # The bank sends an answer again, or a contradicting one: nothing changes.
        withdrawal_id = model.answered[number % len(model.answered)]
        await ctx.notify(api.merchant_id, withdrawal_id, paid=bool(extra))
    elif name in ("dispute", "decide_dispute"):
        await _run_dispute(op, api, services, model, ctx)
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


async def _run_dispute(
    op: tuple[str, int, Any], api: Api, services: Services, model: Model, ctx: Context
) -> None:
    """The channel opens or decides a dispute of a card payment; or the merchant accepts one.

    The channel's notice goes to the dispute use case as the ingress hands it
    over (the session's simulated channels sign nothing; tests/disputes posts
    signed notices to the real ingress).
    """
    name, number, extra = op
    if name == "dispute" and model.by_card:
        payment = model.by_card[number % len(model.by_card)]
        reference = f"dp_ref_{uuid.uuid4().hex[:12]}"
        cents, verdict = extra
        await _notice(services, payment, reference, verdict, cents)
        if verdict == "opened":
            model.disputes.append((payment, reference))
    elif name == "decide_dispute" and model.disputes and extra != "accept":
        payment, reference = model.disputes.pop(number % len(model.disputes))
        await _notice(services, payment, reference, extra, 0)  # the channel decides
    elif name == "decide_dispute" and model.disputes:
        payment, reference = model.disputes.pop(number % len(model.disputes))
        dispute_id = await services.pool.fetchval(
            "SELECT id FROM disputes WHERE merchant_id = $1 AND channel_reference = $2",
            payment.merchant_id,
            reference,
        )
        if dispute_id is None:
            return  # nothing was left to dispute: the notice was ignored
        accept = dsvc.AcceptDisputeRequest(request_id=new_request_id(), dispute_id=dispute_id)
        await ctx.disputes.AcceptDispute(accept, metadata=api.metadata)


async def _notice(
    services: Services, payment: pb.Payment, reference: str, verdict: str, cents: int
) -> None:
    """The channel's notice about its dispute ``reference`` of ``payment`` (``cents``: 0, all)."""
    assert services.disputes is not None
    notice = DisputeNotice(
        event_id=f"evt_{uuid.uuid4().hex}",
        attempt_id=payment.attempts[0].id,
        reference=reference,
        kind=DisputeKind.CHARGEBACK,
        verdict=ChannelVerdict(verdict),
        amount=Money(cents or _cents_of(payment.amount), "USD"),
        reason="fraudulent",
        evidence_due_at=datetime.now(UTC) + timedelta(days=7),
    )
    outcome = await services.disputes.service.apply_notice(
        payment.channel, payment.merchant_id, payment.id, notice, datetime.now(UTC)
    )
    assert outcome is not NoticeOutcome.UNKNOWN_PAYMENT


@pytest.fixture(scope="session")
async def outside(grpc_channel: grpc.aio.Channel, services: Services) -> AsyncIterator[Context]:
    """The back office and the bank; the shared services' payout ingress is served on an
    HTTP port of its own (the test server's callbacks port is off)."""
    endpoint = HttpEndpoint("127.0.0.1", 0)
    services.payouts.install(endpoint.app)
    port = await endpoint.start()
    try:
        yield Context(
            risk=risk_service_pb2_grpc.RiskServiceStub(grpc_channel),
            ingress_url=f"http://127.0.0.1:{port}{PAYOUTS_PATH}",
            desk=services.payouts.desk,
            disputes=dispute_service_pb2_grpc.DisputeServiceStub(grpc_channel),
        )
    finally:
        await endpoint.stop()


def _record_stats(operations: int) -> None:
    with open(STATS_FILE, "a") as stats:
        stats.write(f"{operations}\n")


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATIONS, min_size=max(1, STEPS // 3), max_size=STEPS))
# Random sequences seldom open a dispute and later decide it: every run also plays each
# verdict after an opening (won, lost, accepted), beside a refund of a disputed payment,
# a settlement and a second dispute of a partly disputed payment.
@example(
    operations=[
        ("pay", 1_200, VISA),
        ("pay", 900, VISA),
        ("pay", 700, VISA),
        ("dispute", 0, (500, "opened")),
        ("dispute", 1, (900, "opened")),
        ("dispute", 2, (300, "opened")),
        ("refund", 2, 200),
        ("decide_dispute", 0, "won"),
        ("decide_dispute", 0, "lost"),
        ("settle", 0, 0),
        ("decide_dispute", 0, "accept"),
        ("dispute", 0, (700, "opened")),
        ("refund", 0, 100),
    ]
)
async def test_random_sequences_keep_every_ledger_invariant(
    operations: list[tuple[str, int, Any]],
    stub: payment_service_pb2_grpc.PaymentServiceStub,
    accounts_stub: Stub,
    outside: Context,
    services: Services,
) -> None:
    merchant_id = new_merchant_id()  # a fresh merchant per example
    api = Api(stub, merchant_id, await merchant_metadata(services.pool, merchant_id))
    model = Model(admin=await merchant_metadata(services.pool, merchant_id, Role.ADMIN))
    for op in operations:
        await _run(op, api, accounts_stub, services, model, ctx=outside)
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
