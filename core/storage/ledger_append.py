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

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from core.ledger.accounts import system_account
from core.ledger.journal import JournalTransaction, Phase
from core.storage.statement import Statement

_NO_TIME = datetime(2000, 1, 1, tzinfo=UTC)
"""Any time: ``system_account`` is asked only what an id names, never to open one."""

_DRAFT_CTES = (
    (
        "ledger_txn_drafts",
        """
        SELECT t.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                               $6::text[], $7::text[], $8::text[], $9::timestamptz[])
            AS t(merchant_id, owner_id, id, kind, currency, reference, method, description, at)
        {kept}
        """,
    ),
    (
        "ledger_entry_drafts",
        """
        SELECT e.* FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                               $15::bigint[], $16::text[], $17::timestamptz[])
            AS e(merchant_id, owner_id, transaction_id, account_id, account_kind, amount,
                 currency, at)
        {kept}
        """,
    ),
)


@functools.lru_cache(maxsize=8)
def draft_ctes(kept: str | None = None) -> tuple[tuple[str, str], ...]:
    """The CTEs of the postings to write (``draft_args``), read by ``APPEND_CTES``.

    ``kept``: the name of a CTE with columns ``(merchant_id, id)``: only the
    postings of those owners (payments) are written; None: all of them.
    """
    if kept is None:
        return tuple((name, sql.replace("{kept}", "")) for name, sql in _DRAFT_CTES)
    return tuple(
        (
            name,
            sql.replace(
                "{kept}",
                f"JOIN {kept} ON {kept}.merchant_id = {alias}.merchant_id"
                f" AND {kept}.id = {alias}.owner_id",
            ),
        )
        for (name, sql), alias in zip(_DRAFT_CTES, ("t", "e"), strict=True)
    )


APPEND_CTES: tuple[tuple[str, str], ...] = (
    (
        # One upsert per account, increments summed (a batch may post to one
        # account several times); accounts in id order, as ``ledger.post`` locks them.
        "ledger_moved",
        """
        INSERT INTO ledger_accounts AS a (merchant_id, id, kind, currency, allow_overdraft,
                                          debits_posted, credits_posted, create_time)
        SELECT e.merchant_id, e.account_id, min(e.account_kind), min(e.currency), true,
               sum(greatest(-e.amount, 0)), sum(greatest(e.amount, 0)), min(e.at)
        FROM ledger_entry_drafts e
        GROUP BY e.merchant_id, e.account_id
        ORDER BY e.merchant_id, e.account_id
        ON CONFLICT (merchant_id, id) DO UPDATE
            -- Only an account that may be overdrawn: anything else is a bug here, and
            -- NULL breaks the column's NOT NULL, failing the whole statement (which
            -- may be a transaction of its own: no check after it could undo it).
            SET debits_posted = CASE WHEN a.allow_overdraft
                                     THEN a.debits_posted + EXCLUDED.debits_posted END,
                credits_posted = CASE WHEN a.allow_overdraft
                                      THEN a.credits_posted + EXCLUDED.credits_posted END
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
        FROM ledger_txn_drafts t
        """,
    ),
    (
        "ledger_entered",
        """
        INSERT INTO ledger_entries (merchant_id, transaction_id, account_id, amount, currency,
                                    create_time)
        SELECT e.merchant_id, e.transaction_id, e.account_id, e.amount, e.currency, e.at
        FROM ledger_entry_drafts e
        """,
    ),
)
"""The CTEs writing appended postings (read ``draft_ctes``); ``ledger_moved``: a row per account."""


def appendable(merchant_id: str, postings: Sequence[JournalTransaction]) -> bool:
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


def draft_args(postings: Sequence[tuple[str, str, datetime, JournalTransaction]]) -> list[Any]:
    """``draft_ctes``' arguments for ``(merchant_id, owner_id, at, posting)``s.

    The postings may be of several merchants and owners (a batch of changes);
    ``owner_id`` names what they belong to (a payment), for ``draft_ctes``' ``kept``.
    """
    txns: list[list[Any]] = [[] for _ in range(9)]
    entries: list[list[Any]] = [[] for _ in range(8)]
    kinds: dict[tuple[str, str], str] = {}
    for merchant_id, owner_id, at, txn in postings:
        for column, value in zip(
            txns,
            (
                merchant_id,
                owner_id,
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
            kind = kinds.get((merchant_id, entry.account_id))
            if kind is None:
                system = system_account(merchant_id, entry.account_id, _NO_TIME)
                assert system is not None  # appendable() checked
                kind = kinds[merchant_id, entry.account_id] = system.kind.value
            for column, entry_value in zip(
                entries,
                (
                    merchant_id,
                    owner_id,
                    txn.id,
                    entry.account_id,
                    kind,
                    entry.amount,
                    entry.currency,
                    at,
                ),
                strict=True,
            ):
                column.append(entry_value)
    return [*txns, *entries]


async def post_appended(
    connection: asyncpg.Connection,
    merchant_id: str,
    postings: Sequence[JournalTransaction],
    at: datetime,
) -> None:
    """Write ``postings`` (``appendable`` ones) and their balances in one statement.

    An account under a system account's id that may not be overdrawn (never
    written by paycore) fails the statement, and so the whole change.
    """
    statement = Statement()
    statement.add(draft_ctes(), draft_args([(merchant_id, "", at, txn) for txn in postings]))
    statement.add(APPEND_CTES, ())
    sql, values = statement.build("SELECT count(*) FROM ledger_moved")
    await connection.fetchval(sql, *values)
