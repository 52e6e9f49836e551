"""Settlement's figures without a server: the fee of a capture, a day's net, its journal and CSV."""

from __future__ import annotations

from datetime import date

from core.ledger.fees import FeeRule, FeeSchedule
from core.ledger.journal import TransactionKind
from core.ledger.settlement import (
    SettlementItem,
    compute_settlement,
    settlement_csv_rows,
    settlement_transaction,
)

from .settling import CARD_FEE

A_DAY = date(2026, 3, 2)  # any day: the pure tests below only label their figures with it


def _item(kind: TransactionKind, amount: int, n: int = 1) -> SettlementItem:
    return SettlementItem(f"pay_{n}:{kind.value}", kind, f"pay_{n}", "card", amount)


def test_fee_is_fixed_plus_basis_points_rounded_half_up() -> None:
    assert CARD_FEE.fee(1000) == 30 + 29
    assert CARD_FEE.fee(600) == 30 + 17  # 17.4
    assert FeeRule(bps=50).fee(100) == 1  # 0.5 rounds up
    assert CARD_FEE.fee(10) == 10  # never more than the capture
    schedule = FeeSchedule(CARD_FEE, {"wallet": FeeRule()})
    assert (schedule.fee("card", 1000), schedule.fee("wallet", 1000)) == (59, 0)


def test_settlement_nets_captures_refunds_and_fees() -> None:
    items = [
        _item(TransactionKind.CAPTURE, 1000, 1),
        _item(TransactionKind.CAPTURE, 600, 2),
        _item(TransactionKind.REFUND, 300, 1),
    ]
    figures = compute_settlement("m1", "USD", A_DAY, items, FeeSchedule(CARD_FEE))
    assert (figures.captured, figures.refunded, figures.fees, figures.net) == (1600, 300, 106, 1194)
    assert sum(line.net for line in figures.lines) == figures.net
    txn = settlement_transaction("stl_1:journal", figures)
    assert {(e.account_id, e.amount) for e in txn.entries} == {
        ("merchant_pending.USD", -1300),
        ("fee_revenue.USD", 106),
        ("merchant_available.USD", 1194),
    }
    rows = settlement_csv_rows(figures)
    assert rows[0][0] == "transaction_id" and rows[-1][0] == "TOTAL"
    assert rows[-1][4:] == ("1300", "106", "1194")


def test_a_negative_day_settles_nothing() -> None:
    items = [_item(TransactionKind.CAPTURE, 1000, 1), _item(TransactionKind.REFUND, 1000, 1)]
    figures = compute_settlement("m1", "USD", A_DAY, items, FeeSchedule(CARD_FEE))
    assert figures.net == -59
    assert not figures.settles
