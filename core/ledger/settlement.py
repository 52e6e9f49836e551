"""Settlement (pure): what one merchant's day adds up to, and the journal transaction moving it.

A settlement takes the captures, refunds and dispute movements on the
merchant's pending balance that no settlement counted yet, up to a cutoff,
and computes::

    net = captured - refunded - disputed - fees   (fees from the FeeSchedule)

where ``disputed`` is what chargebacks took from the pending balance (their
amounts and dispute fees) less what won ones returned (core/ledger/disputes.py;
a lost chargeback's payment to the channel leaves the dispute account, not
the pending balance). Then it moves the net in ONE journal transaction::

    merchant_pending  -(captured - refunded - disputed)
    fee_revenue       +fees
    merchant_available +net

A day whose net is negative (refunds or chargebacks beyond the day's
captures) settles nothing: its transactions stay unsettled and roll into the
next settlement, so the available balance never goes below zero by settlement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.ledger.accounts import AccountKind, system_account_id
from core.ledger.fees import FeeSchedule
from core.ledger.journal import Entry, JournalTransaction, Phase, TransactionKind

SETTLEMENT_TIME_ZONE: tzinfo = UTC
"""Where business days begin and end: a capture at 23:59:59 UTC belongs to that UTC day."""


@dataclass(frozen=True, slots=True)
class SettlementDay:
    """One merchant's currency and business day (UTC): what one settlement covers."""

    merchant_id: str
    currency: str
    business_date: date


def day_start(business_date: date) -> datetime:
    """The first instant of a business day; its items were written from then on."""
    return datetime.combine(business_date, time(), tzinfo=SETTLEMENT_TIME_ZONE)


def day_end(business_date: date) -> datetime:
    """The end of a business day (the next midnight): its items were written before it."""
    return day_start(business_date + timedelta(days=1))


def day_of(moment: datetime) -> date:
    """The business day an item written at ``moment`` belongs to."""
    return moment.astimezone(SETTLEMENT_TIME_ZONE).date()


def is_closed(business_date: date, now: datetime, grace: timedelta) -> bool:
    """Whether ``business_date`` is over: ended, and ``grace`` has passed since.

    The grace lets writes stamped just before midnight commit before the day
    is counted (a request's time is taken before its transaction commits).
    Computed from ``now`` back, so no day (not even 9999-12-31) overflows.
    """
    return day_of(now - grace) > business_date


def last_closed_day(now: datetime, grace: timedelta) -> date:
    """The latest business day that is over at ``now``."""
    return day_of(now - grace) - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SettlementItem:
    """One capture, refund or dispute movement a settlement counts.

    ``amount`` is positive for captures and refunds (as on the payment); for a
    dispute movement it is its change to the pending balance: negative when a
    chargeback took money (its amount, its fee), positive when a won one
    returned it.
    """

    transaction_id: str
    kind: TransactionKind
    reference: str
    method: str
    amount: int


@dataclass(frozen=True, slots=True)
class SettlementLine:
    """One item of a settlement report, with its fee."""

    item: SettlementItem
    fee: int

    @property
    def net(self) -> int:
        """What the item adds to the merchant's available balance."""
        # Captures add, refunds take; a dispute movement's amount is signed already.
        item = self.item
        signed = -item.amount if item.kind is TransactionKind.REFUND else item.amount
        return signed - self.fee


@dataclass(frozen=True, slots=True)
class SettlementFigures:
    """A settlement's totals and lines (the report a finance person checks)."""

    merchant_id: str
    currency: str
    business_date: date
    lines: tuple[SettlementLine, ...]

    @property
    def captured(self) -> int:
        """Sum of the captures."""
        return sum(x.item.amount for x in self.lines if x.item.kind is TransactionKind.CAPTURE)

    @property
    def refunded(self) -> int:
        """Sum of the refunds."""
        return sum(x.item.amount for x in self.lines if x.item.kind is TransactionKind.REFUND)

    @property
    def disputed(self) -> int:
        """What chargebacks took from the pending balance, less what won ones returned."""
        return -sum(x.item.amount for x in self.lines if x.item.kind is TransactionKind.DISPUTE)

    @property
    def fees(self) -> int:
        """Sum of the fees."""
        return sum(x.fee for x in self.lines)

    @property
    def net(self) -> int:
        """captured - refunded - disputed - fees: what moves to the available balance."""
        return self.pending_change - self.fees

    @property
    def pending_change(self) -> int:
        """captured - refunded - disputed: what leaves the pending balance."""
        return self.captured - self.refunded - self.disputed

    @property
    def moves(self) -> bool:
        """Whether the pending balance changes (False when refunds cancel the captures)."""
        return self.pending_change != 0

    @property
    def settles(self) -> bool:
        """Whether anything moves: some items, and a net that is not negative."""
        return bool(self.lines) and self.net >= 0


def compute_settlement(
    merchant_id: str,
    currency: str,
    business_date: date,
    items: Sequence[SettlementItem],
    fees: FeeSchedule,
) -> SettlementFigures:
    """The figures of a settlement of ``items``; fees are charged on captures only."""
    lines = tuple(
        SettlementLine(
            item, fees.fee(item.method, item.amount) if item.kind is TransactionKind.CAPTURE else 0
        )
        for item in sorted(items, key=lambda i: i.transaction_id)
    )
    return SettlementFigures(merchant_id, currency, business_date, lines)


def settlement_transaction(transaction_id: str, figures: SettlementFigures) -> JournalTransaction:
    """The journal transaction that moves a settlement (only when ``figures.settles``)."""
    if not (figures.settles and figures.moves):
        raise ValueError("nothing to move: no items, a negative net, or refunds equal captures")
    currency = figures.currency
    amounts = {
        system_account_id(AccountKind.MERCHANT_PENDING, currency): -figures.pending_change,
        system_account_id(AccountKind.FEE_REVENUE, currency): figures.fees,
        system_account_id(AccountKind.MERCHANT_AVAILABLE, currency): figures.net,
    }
    return JournalTransaction(
        id=transaction_id,
        merchant_id=figures.merchant_id,
        kind=TransactionKind.SETTLEMENT,
        phase=Phase.POSTED,
        entries=tuple(Entry(a, amount, currency) for a, amount in amounts.items() if amount),
        description=f"settlement {figures.business_date.isoformat()}",
    )


CSV_HEADER = (
    "transaction_id",
    "kind",
    "payment_id",
    "method",
    "amount_minor",
    "fee_minor",
    "net_minor",
)


def settlement_csv_rows(figures: SettlementFigures) -> list[tuple[str, ...]]:
    """The report as CSV rows (header, one per item, a TOTAL row), amounts in minor units."""
    rows: list[tuple[str, ...]] = [CSV_HEADER]
    for line in figures.lines:
        item = line.item
        rows.append(
            (
                item.transaction_id,
                item.kind.value,
                item.reference,
                item.method,
                str(item.amount),
                str(line.fee),
                str(line.net),
            )
        )
    rows.append(
        (
            "TOTAL",
            f"captured={figures.captured} refunded={figures.refunded} disputed={figures.disputed}",
            "",
            "",
            str(figures.pending_change),
            str(figures.fees),
            str(figures.net),
        )
    )
    return rows
