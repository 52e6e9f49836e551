"""The double-entry ledger (pure): accounts, journal transactions, holds, posting rules.

Every money movement paycore knows about is one ``JournalTransaction`` whose
entries sum to zero per currency. Holds are two-phase, as in TigerBeetle: a
PENDING transaction reserves amounts; a POST_PENDING transaction posts (part
of) it and releases the rest; a VOID_PENDING transaction releases it all.
``postings_for`` turns a payment's change into journal transactions (applied by
the application, core/service/payment_changes.py); storage (core/storage/ledger.py)
writes them in the same PostgreSQL transaction as the change. Nothing here
imports grpc, redis or asyncpg.
"""

from core.ledger.accounts import (
    Account,
    AccountKind,
    Balance,
    clearing_account_id,
    system_account_id,
)
from core.ledger.journal import Entry, JournalTransaction, Phase, TransactionKind
from core.ledger.postings import postings_for

__all__ = [
    "Account",
    "AccountKind",
    "Balance",
    "Entry",
    "JournalTransaction",
    "Phase",
    "TransactionKind",
    "clearing_account_id",
    "postings_for",
    "system_account_id",
]
