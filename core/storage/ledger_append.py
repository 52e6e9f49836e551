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
from datetime import UTC, datetime

import asyncpg

from core.ledger.accounts import system_account
from core.ledger.journal import JournalTransaction, Phase

_NO_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""Any time: ``system_account`` is asked only what an id names, never to open one."""

_APPEND = """
WITH moved AS (
    INSERT INTO ledger_accounts AS a (merchant_id, id, kind, currency, allow_overdraft,
                                      debits_posted, credits_posted, create_time)
    SELECT $1, m.id, m.kind, m.currency, true, m.debits, m.credits, $7
    FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
        AS m(id, kind, currency, debits, credits)
    ORDER BY m.id
    ON CONFLICT (merchant_id, id) DO UPDATE
        SET debits_posted = a.debits_posted + EXCLUDED.debits_posted,
            credits_posted = a.credits_posted + EXCLUDED.credits_posted
        -- Only an account that may be overdrawn: anything else is a bug here.
        WHERE a.allow_overdraft
    RETURNING 1
), journaled AS (
    INSERT INTO ledger_transactions (merchant_id, id, kind, phase, currency, reference, method,
                                     description, create_time)
    SELECT $1, t.id, t.kind, 'posted', t.currency, t.reference, t.method, t.description, $7
    FROM unnest($8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
        AS t(id, kind, currency, reference, method, description)
), entered AS (
    INSERT INTO ledger_entries (merchant_id, transaction_id, account_id, amount, currency,
                                create_time)
    SELECT $1, e.transaction_id, e.account_id, e.amount, e.currency, $7
    FROM unnest($14::text[], $15::text[], $16::bigint[], $17::text[])
        AS e(transaction_id, account_id, amount, currency)
)
SELECT count(*) FROM moved
"""


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


async def post_appended(
    connection: asyncpg.Connection,
    merchant_id: str,
    postings: list[JournalTransaction],
    at: datetime,
) -> None:
    """Write ``postings`` (``appendable`` ones) and their balances in one statement."""
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    currencies: dict[str, str] = {}
    entry_txn, entry_account, entry_amount, entry_currency = [], [], [], []
    for txn in postings:
        for entry in txn.entries:
            if entry.amount > 0:
                credits[entry.account_id] += entry.amount
            else:
                debits[entry.account_id] -= entry.amount
            currencies[entry.account_id] = entry.currency
            entry_txn.append(txn.id)
            entry_account.append(entry.account_id)
            entry_amount.append(entry.amount)
            entry_currency.append(entry.currency)
    accounts = sorted(currencies)
    kinds = []
    for account_id in accounts:
        opened = system_account(merchant_id, account_id, _NO_TIME)
        assert opened is not None  # appendable() checked
        kinds.append(opened.kind.value)
    moved = await connection.fetchval(
        _APPEND,
        merchant_id,
        accounts,
        kinds,
        [currencies[a] for a in accounts],
        [debits[a] for a in accounts],
        [credits[a] for a in accounts],
        at,
        [txn.id for txn in postings],
        [txn.kind.value for txn in postings],
        [txn.currency for txn in postings],
        [txn.reference for txn in postings],
        [txn.method for txn in postings],
        [txn.description for txn in postings],
        entry_txn,
        entry_account,
        entry_amount,
        entry_currency,
    )
    if moved != len(accounts):
        # A row under a system account's id that may not be overdrawn: never
        # written by paycore. Raising rolls the whole change back.
        raise ValueError(f"ledger accounts {accounts} of {merchant_id} are not all overdraftable")
