"""What the ledger's store returns: statement lines, stored settlements, due withdrawals.

Values only (core/storage/ledger*.py builds them from rows; the account, settlement and
payout use cases and the gRPC handlers read them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.ledger.journal import Phase, TransactionKind
from core.ledger.settlement import SettlementFigures
from core.ledger.withdrawals import Withdrawal


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One entry of an account's statement, with what its transaction was."""

    seq: int
    transaction_id: str
    kind: TransactionKind
    phase: Phase
    amount: int
    currency: str
    reference: str
    description: str
    created_at: datetime
    hold_state: str = ""
    """For a hold's entry: ``open``, ``posted`` or ``voided``."""


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """A stored settlement: its figures and whether (and by which journal transaction) it moved."""

    id: str
    figures: SettlementFigures
    settled: bool
    """False when the net was negative: the items roll into the next settlement."""
    journal_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DueWithdrawal:
    """A PENDING withdrawal leased to this worker for a status query."""

    withdrawal: Withdrawal
    query_count: int
