"""Journal transactions: balanced sets of entries, and the two phases of a hold."""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass

from core.domain.money import MAX_AMOUNT_MINOR, currency_exponent


class Phase(enum.Enum):
    """How a journal transaction moves balances (TigerBeetle's transfer flags)."""

    POSTED = "posted"
    """Moves posted balances now."""
    PENDING = "pending"
    """A hold: reserves its amounts (pending balances); posts nothing until resolved."""
    POST_PENDING = "post_pending"
    """Posts its entries (at most the hold's amounts) and releases the whole hold ``pending_id``."""
    VOID_PENDING = "void_pending"
    """Releases the hold ``pending_id``; has no entries."""


class TransactionKind(enum.Enum):
    """What caused a journal transaction (statements and settlement group by it)."""

    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    TRANSFER = "transfer"
    SETTLEMENT = "settlement"
    WITHDRAWAL = "withdrawal"
    DISPUTE = "dispute"
    """A chargeback's opening, its return when won, its payment to the channel when lost."""
    ADJUSTMENT = "adjustment"
    """Money booked by an operator or a test fixture (e.g. opening balances)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a journal transaction: signed minor units, credit positive, debit negative."""

    account_id: str
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int or self.amount == 0:
            raise ValueError("an entry moves a non-zero int of minor units")
        if abs(self.amount) > MAX_AMOUNT_MINOR:
            raise ValueError("entry amount out of range")
        currency_exponent(self.currency)


@dataclass(frozen=True, slots=True)
class JournalTransaction:
    """One money movement of one merchant, balanced per currency.

    ``id`` is deterministic for movements caused by a payment (for example
    ``pay_...:capture``) so that writing the same movement twice is refused by
    PostgreSQL's primary key instead of doubling a balance.
    """

    id: str
    merchant_id: str
    kind: TransactionKind
    phase: Phase
    entries: tuple[Entry, ...] = ()
    pending_id: str = ""
    reference: str = ""
    """The payment (or other resource) that caused it."""
    method: str = ""
    """How the money was paid (``card``, ``wallet``): the fee schedule's key."""
    description: str = ""

    def __post_init__(self) -> None:
        resolves = self.phase in (Phase.POST_PENDING, Phase.VOID_PENDING)
        if resolves != bool(self.pending_id):
            raise ValueError("pending_id is required exactly for POST_PENDING and VOID_PENDING")
        if self.phase is Phase.VOID_PENDING:
            if self.entries:
                raise ValueError("a void has no entries: it releases the hold")
            return
        if len(self.entries) < 2:
            raise ValueError("a journal transaction needs at least two entries")
        accounts = [(e.account_id, e.currency) for e in self.entries]
        if len(set(accounts)) != len(accounts):
            raise ValueError("an account appears twice in one journal transaction")
        sums: dict[str, int] = defaultdict(int)
        for entry in self.entries:
            sums[entry.currency] += entry.amount
        unbalanced = {c: s for c, s in sums.items() if s != 0}
        if unbalanced:
            raise ValueError(f"entries do not sum to zero: {unbalanced}")

    @property
    def currency(self) -> str:
        """The currency of the first entry ('' for a void)."""
        return self.entries[0].currency if self.entries else ""


def transfer(
    transaction_id: str,
    merchant_id: str,
    kind: TransactionKind,
    *,
    debit: str,
    credit: str,
    amount: int,
    currency: str,
    phase: Phase = Phase.POSTED,
    pending_id: str = "",
    reference: str = "",
    method: str = "",
    description: str = "",
) -> JournalTransaction:
    """The common two-entry transaction: ``amount`` from ``debit`` to ``credit``."""
    return JournalTransaction(
        id=transaction_id,
        merchant_id=merchant_id,
        kind=kind,
        phase=phase,
        entries=(Entry(debit, -amount, currency), Entry(credit, amount, currency)),
        pending_id=pending_id,
        reference=reference,
        method=method,
        description=description,
    )
