"""Payment postings between system accounts, appended in one statement (issue 18).

Most payment changes move money only between a merchant's system accounts
that may go below zero (channel clearing -> merchant pending on a capture, and
back on a refund). Nothing can refuse such a posting, so there is nothing to
decide on locked balances: ``post_appended`` writes the journal transactions,
their entries and the balances' increments in ONE statement (arrays through
``unnest``), where ``ledger.post`` takes a lock-and-read, an update per account,
the transaction and its entries (4-6 round trips, more for a first posting).

The invariants stay where they were:
- each transaction sums to zero: its entries come from ``journal.transfer``,
  which builds balanced pairs (``JournalTransaction`` refuses unbalanced ones);
- a wallet never below zero: postings that touch a wallet, or any account that
  may not be overdrawn (merchant_available), or a hold, are not taken here
  (``appendable`` says no) and go through ``ledger.post`` and its checks, as
  before; the table's CHECK stays the last line of defence;
- a posting id is the primary key of ``ledger_transactions``: saving a change
  twice still fails instead of doubling a balance.

Locking is as ``ledger.post``'s: the accounts are upserted in id order (the
``ORDER BY`` of the ``INSERT ... SELECT``), after the payment row was locked by
the caller, so two postings over the same accounts queue in the same order.
Balances are incremented (``x = x + delta``) under the row lock of the upsert,
so concurrent postings commute and none is lost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from core.ledger.accounts import system_account
from core.ledger.journal import JournalTransaction, Phase
from core.storage.statement import Statement

_NO_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""Any time: ``system_account`` is asked only what an id names, never to open one."""

APPEND_CTES: tuple[tuple[str, str], ...] = (
    (
        "ledger_moved",
        """
        INSERT INTO ledger_accounts AS a (merchant_id, id, kind, currency, allow_overdraft,
                                          debits_posted, credits_posted, create_time)
        SELECT m.merchant_id, m.id, m.kind, m.currency, true, m.debits, m.credits, m.at
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                    $6::bigint[], $7::timestamptz[])
            AS m(merchant_id, id, kind, currency, debits, credits, at)
        ORDER BY m.merchant_id, m.id
        ON CONFLICT (merchant_id, id) DO UPDATE
            SET debits_posted = a.debits_posted + EXCLUDED.debits_posted,
                credits_posted = a.credits_posted + EXCLUDED.credits_posted
            -- Only an account that may be overdrawn: anything else is a bug here.
            WHERE a.allow_overdraft
        RETURNING 1
        """,
    ),
    (
        "ledger_journaled",
        """
        INSERT INTO ledger_transactions (merchant_id, id, kind, phase, currency, reference,
                                         method, description, create_time)
        SELECT t.merchant_id, t.id, t.kind, 'posted', t.currency, t.reference, t.method,
               t.description, t.at
        FROM unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                    $13::text[], $14::text[], $15::timestamptz[])
            AS t(merchant_id, id, kind, currency, reference, method, description, at)
        """,
    ),
    (
        "ledger_entered",
        """
        INSERT INTO ledger_entries (merchant_id, transaction_id, account_id, amount, currency,
                                    create_time)
        SELECT e.merchant_id, e.transaction_id, e.account_id, e.amount, e.currency, e.at
        FROM unnest($16::text[], $17::text[], $18::text[], $19::bigint[], $20::text[],
                    $21::timestamptz[])
            AS e(merchant_id, transaction_id, account_id, amount, currency, at)
        """,
    ),
)
"""The CTEs writing appended postings (``append_args``); ``ledger_moved`` has a row per account."""


def appendable(merchant_id: str, postings: list[JournalTransaction]) -> bool:
    """Whether ``post_appended`` may write ``postings``: posted at once, system accounts only.

    Every account must be a system account that may go below zero (so no
    posting can be refused) in the entry's own currency.
    """
    for txn in postings:
        if txn.phase is not Phase.POSTED or txn.pending_id:
            return False
        for entry in txn.entries:
            account = system_account(merchant_id, entry.account_id, _NO_TIME)
            if account is None or not account.allow_overdraft:
                return False
            if account.currency != entry.currency:
                return False
    return True


def append_args(
    postings: Sequence[tuple[str, datetime, JournalTransaction]],
) -> tuple[list[Any], int]:
    """``APPEND_CTES``' arguments for ``(merchant_id, at, posting)``s, and how many accounts.

    The postings may be of several merchants (a batch of changes): each
    account's increments are summed, so it is upserted once per statement.
    """
    debits: dict[tuple[str, str], int] = defaultdict(int)
    credits: dict[tuple[str, str], int] = defaultdict(int)
    opened: dict[tuple[str, str], tuple[str, datetime]] = {}
    txns: list[list[Any]] = [[] for _ in range(8)]
    entries: list[list[Any]] = [[] for _ in range(6)]
    for merchant_id, at, txn in postings:
        for column, value in zip(
            txns,
            (
                merchant_id,
                txn.id,
                txn.kind.value,
                txn.currency,
                txn.reference,
                txn.method,
                txn.description,
                at,
            ),
            strict=True,
        ):
            column.append(value)
        for entry in txn.entries:
            account = (merchant_id, entry.account_id)
            if entry.amount > 0:
                credits[account] += entry.amount
            else:
                debits[account] -= entry.amount
            opened.setdefault(account, (entry.currency, at))
            for column, entry_value in zip(
                entries,
                (merchant_id, txn.id, entry.account_id, entry.amount, entry.currency, at),
                strict=True,
            ):
                column.append(entry_value)
    accounts = sorted(opened)
    kinds = []
    for merchant_id, account_id in accounts:
        system = system_account(merchant_id, account_id, _NO_TIME)
        assert system is not None  # appendable() checked
        kinds.append(system.kind.value)
    args: list[Any] = [
        [merchant_id for merchant_id, _ in accounts],
        [account_id for _, account_id in accounts],
        kinds,
        [opened[a][0] for a in accounts],
        [debits[a] for a in accounts],
        [credits[a] for a in accounts],
        [opened[a][1] for a in accounts],
        *txns,
        *entries,
    ]
    return args, len(accounts)


async def post_appended(
    connection: asyncpg.Connection,
    merchant_id: str,
    postings: list[JournalTransaction],
    at: datetime,
) -> None:
    """Write ``postings`` (``appendable`` ones) and their balances in one statement."""
    args, accounts = append_args([(merchant_id, at, txn) for txn in postings])
    statement = Statement()
    statement.add(APPEND_CTES, args)
    sql, values = statement.build("SELECT count(*) FROM ledger_moved")
    moved = await connection.fetchval(sql, *values)
    if moved != accounts:
        # A row under a system account's id that may not be overdrawn: never
        # written by paycore. Raising rolls the whole change back.
        raise ValueError(f"ledger accounts of {merchant_id} are not all overdraftable")
