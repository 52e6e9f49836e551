"""Settlement counts dispute movements on the pending balance: a chargeback's amount and fee
take from the day's net, a won one's return adds to it, a lost one's payment is not an item."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from core.ledger.fees import FeeRule, FeeSchedule
from core.ledger.journal import TransactionKind
from core.ledger.records import SettlementRecord
from core.ledger.settlement import (
    SettlementDay,
    SettlementItem,
    compute_settlement,
    settlement_csv_rows,
    settlement_transaction,
)
from core.storage.ledger_store import PostgresLedgerStore
from paycore.v1 import payment_pb2 as pb
from tests.disputes.conftest import DisputeStack
from tests.ledger.invariants import assert_ledger_consistent
from tests.support.requests import usd

NO_FEE = FeeRule()


def test_chargebacks_take_from_the_net_and_won_ones_give_back() -> None:
    items = [
        SettlementItem("pay_1:capture", TransactionKind.CAPTURE, "pay_1", "card", 10_000),
        SettlementItem("dp_1:open", TransactionKind.DISPUTE, "pay_1", "", -4_000),
        SettlementItem("dp_1:fee", TransactionKind.DISPUTE, "pay_1", "", -1_500),
        SettlementItem("dp_2:won", TransactionKind.DISPUTE, "pay_0", "", 2_000),
    ]
    figures = compute_settlement("m1", "USD", date(2026, 3, 2), items, FeeSchedule(NO_FEE))
    assert (figures.captured, figures.disputed, figures.net) == (10_000, 3_500, 6_500)
    assert sum(line.net for line in figures.lines) == figures.net
    txn = settlement_transaction("stl_1:journal", figures)
    assert {(e.account_id, e.amount) for e in txn.entries} == {
        ("merchant_pending.USD", -6_500),
        ("merchant_available.USD", 6_500),
    }
    assert settlement_csv_rows(figures)[-1][1] == "captured=10000 refunded=0 disputed=3500"


async def _disputed(stack: DisputeStack, cents: int) -> pb.Payment:
    """A captured payment of 100.00 with a chargeback of ``cents`` open on it."""
    payment = await stack.served.api.captured(amount=usd(100))
    assert await stack.notify(payment, amount=cents) == (200, "[accepted]")
    return payment


async def _settle(stack: DisputeStack, days_from_today: int = 0) -> SettlementRecord:
    """Settle the stack's merchant's USD for today (or a later day), without fees."""
    day = datetime.now(UTC).date() + timedelta(days=days_from_today)
    store = PostgresLedgerStore(stack.served.services.pool)
    return await store.settle_alone(
        SettlementDay(stack.served.api.merchant_id, "USD", day), NO_FEE, datetime.now(UTC)
    )


async def test_a_chargeback_carries_the_day_over_and_its_win_settles_it(
    stack: DisputeStack,
) -> None:
    payment = await _disputed(stack, 10_000)

    first = await _settle(stack)
    # 100.00 captured, 100.00 and the 15.00 fee taken back: negative, nothing moves.
    assert (first.figures.captured, first.figures.disputed, first.settled) == (
        10_000,
        11_500,
        False,
    )

    assert await stack.notify(payment, "won") == (200, "[accepted]")
    second = await _settle(stack, days_from_today=1)

    assert (second.figures.disputed, second.figures.net, second.settled) == (1_500, 8_500, True)
    assert await stack.balance("merchant_available.USD") == 8_500
    assert await stack.balance("merchant_pending.USD") == 0
    await assert_ledger_consistent(stack.served.services.pool, stack.served.api.merchant_id)


async def test_a_lost_chargebacks_payment_to_the_channel_is_not_an_item(
    stack: DisputeStack,
) -> None:
    payment = await _disputed(stack, 2_000)
    assert await stack.notify(payment, "lost") == (200, "[accepted]")

    settled = await _settle(stack)

    kinds = sorted(line.item.transaction_id.rsplit(":", 1)[1] for line in settled.figures.lines)
    assert kinds == ["capture", "fee", "open"]
    assert (settled.figures.net, settled.settled) == (10_000 - 2_000 - 1_500, True)
    assert await stack.balance("merchant_pending.USD") == 0
