"""The ledger's tables in PostgreSQL (asyncpg): accounts, journal transactions, entries.

Writes run on the connection of the caller's transaction (the payment save,
or a RequestExecutor plan), so entries commit together with the change that
caused them or not at all. Settlements and withdrawals, which post through
``post``, are core/storage/ledger_settlements.py and ledger_withdrawals.py.

Locking: ``post`` locks every account it touches with one ``SELECT ... ORDER
BY id FOR UPDATE``, so two postings over the same accounts queue in the same
order and cannot deadlock; the balance check and the write happen under those
locks, which is what makes concurrent spends from one wallet unable to
overdraw it. Payment postings lock the payment row first (payments.lock) and
the accounts second; nothing locks them the other way round.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

import asyncpg

from core.domain.errors import NotFoundError, Reason
from core.ledger.accounts import Account, AccountKind, Balance, system_account
from core.ledger.balances import apply
from core.ledger.journal import Entry, JournalTransaction, Phase, TransactionKind
from core.ledger.records import StatementLine
from core.ports.repository import PaymentChange
from core.storage import ledger_append

_ACCOUNT_COLUMNS = """
    merchant_id, id, kind, currency, customer_id, description, allow_overdraft,
    debits_posted, credits_posted, debits_pending, credits_pending, create_time
"""


def _account_from_row(row: asyncpg.Record) -> Account:
    return Account(
        id=row["id"],
        merchant_id=row["merchant_id"],
        kind=AccountKind(row["kind"]),
        currency=row["currency"],
        allow_overdraft=row["allow_overdraft"],
        created_at=row["create_time"],
        customer_id=row["customer_id"],
        description=row["description"],
        balance=Balance(
            debits_posted=row["debits_posted"],
            credits_posted=row["credits_posted"],
            debits_pending=row["debits_pending"],
            credits_pending=row["credits_pending"],
        ),
    )


async def insert_account(connection: asyncpg.Connection, account: Account) -> None:
    """Store a new account with a zero balance."""
    await connection.execute(
        """
        INSERT INTO ledger_accounts (merchant_id, id, kind, currency, customer_id, description,
                                     allow_overdraft, create_time)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        account.merchant_id,
        account.id,
        account.kind.value,
        account.currency,
        account.customer_id,
        account.description,
        account.allow_overdraft,
        account.created_at,
    )


async def _insert_system_accounts(
    connection: asyncpg.Connection, accounts: Iterable[Account]
) -> None:
    await connection.executemany(
        """
        INSERT INTO ledger_accounts (merchant_id, id, kind, currency, allow_overdraft, create_time)
        VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING
        """,
        [
            (a.merchant_id, a.id, a.kind.value, a.currency, a.allow_overdraft, a.created_at)
            for a in accounts
        ],
    )


async def lock_accounts(
    connection: asyncpg.Connection, merchant_id: str, account_ids: list[str]
) -> dict[str, Account]:
    """The accounts that exist of ``account_ids``, locked in id order until the transaction ends."""
    rows = await connection.fetch(
        f"""
        SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts
        WHERE merchant_id = $1 AND id = ANY($2::text[]) ORDER BY id FOR UPDATE
        """,
        merchant_id,
        account_ids,
    )
    return {row["id"]: _account_from_row(row) for row in rows}


async def _hold_entries(
    connection: asyncpg.Connection, merchant_id: str, pending_id: str
) -> tuple[Entry, ...]:
    state = await connection.fetchval(
        """
        SELECT hold_state FROM ledger_transactions
        WHERE merchant_id = $1 AND id = $2 AND phase = 'pending' FOR UPDATE
        """,
        merchant_id,
        pending_id,
    )
    if state != "open":
        raise ValueError(f"hold {pending_id} is {state or 'missing'}, not open")
    rows = await connection.fetch(
        """
        SELECT account_id, amount, currency FROM ledger_entries
        WHERE merchant_id = $1 AND transaction_id = $2
        """,
        merchant_id,
        pending_id,
    )
    return tuple(Entry(r["account_id"], r["amount"], r["currency"]) for r in rows)


async def post(connection: asyncpg.Connection, txn: JournalTransaction, at: datetime) -> None:
    """Write ``txn`` and move the balances it moves (inside the caller's transaction).

    Raises FAILED_PRECONDITION INSUFFICIENT_FUNDS before writing anything when
    a wallet would go below zero, and NOT_FOUND ACCOUNT_NOT_FOUND for an entry
    on a wallet that does not exist. A second posting of the same id fails on
    the primary key (asyncpg.UniqueViolationError): a bug, never a double post.
    """
    merchant_id = txn.merchant_id
    hold = await _hold_entries(connection, merchant_id, txn.pending_id) if txn.pending_id else ()
    account_ids = sorted({e.account_id for e in (*txn.entries, *hold)})
    accounts = await lock_accounts(connection, merchant_id, account_ids)
    unopened = {}
    for account_id in account_ids:
        if account_id not in accounts:
            opened = system_account(merchant_id, account_id, at)
            if opened is None:
                raise NotFoundError(Reason.ACCOUNT_NOT_FOUND, account_id=account_id)
            unopened[account_id] = opened
    # Decide on the accounts as they would be opened first, so that a refused
    # posting (INSUFFICIENT_FUNDS) writes nothing at all, not even an account.
    changed = apply(txn, {**accounts, **unopened}, hold)
    if unopened:
        # Opened now; another transaction may have opened (and moved) one in
        # the meantime, so decide again on the rows as locked.
        await _insert_system_accounts(connection, unopened.values())
        accounts = await lock_accounts(connection, merchant_id, account_ids)
        changed = apply(txn, accounts, hold)
    await connection.executemany(
        """
        UPDATE ledger_accounts SET debits_posted = $3, credits_posted = $4,
            debits_pending = $5, credits_pending = $6
        WHERE merchant_id = $1 AND id = $2
        """,
        [
            (
                merchant_id,
                account_id,
                b.debits_posted,
                b.credits_posted,
                b.debits_pending,
                b.credits_pending,
            )
            for account_id, b in sorted(changed.items())
        ],
    )
    await connection.execute(
        """
        INSERT INTO ledger_transactions (merchant_id, id, kind, phase, currency, pending_id,
            hold_state, reference, method, description, create_time)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        """,
        merchant_id,
        txn.id,
        txn.kind.value,
        txn.phase.value,
        txn.currency or (hold[0].currency if hold else ""),
        txn.pending_id,
        "open" if txn.phase is Phase.PENDING else "",
        txn.reference,
        txn.method,
        txn.description,
        at,
    )
    if txn.pending_id:
        await connection.execute(
            "UPDATE ledger_transactions SET hold_state = $3 WHERE merchant_id = $1 AND id = $2",
            merchant_id,
            txn.pending_id,
            "posted" if txn.phase is Phase.POST_PENDING else "voided",
        )
    if txn.entries:
        await connection.executemany(
            """
            INSERT INTO ledger_entries (merchant_id, transaction_id, account_id, amount,
                                        currency, create_time)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            [(merchant_id, txn.id, e.account_id, e.amount, e.currency, at) for e in txn.entries],
        )


async def post_payment_change(connection: asyncpg.Connection, change: PaymentChange) -> None:
    """The ledger part of a payment save: post ``change.postings``, as the application planned.

    A payment authorized before the ledger existed (migration 0009) has no
    hold to resolve: its capture is posted outright and its void posts
    nothing, so payments in flight across the upgrade keep working.
    """
    postings, after = change.postings, change.after
    if postings and ledger_append.appendable(after.merchant_id, postings):
        # System accounts only, nothing to refuse: one statement (issue 18).
        await ledger_append.post_appended(connection, after.merchant_id, postings, after.updated_at)
        return
    for planned in postings:
        txn = planned
        if planned.pending_id and not await _hold_exists(connection, planned):
            if planned.phase is Phase.VOID_PENDING:
                continue
            txn = dataclasses.replace(planned, phase=Phase.POSTED, pending_id="")
        await post(connection, txn, after.updated_at)


async def _hold_exists(connection: asyncpg.Connection, txn: JournalTransaction) -> bool:
    found = await connection.fetchval(
        "SELECT 1 FROM ledger_transactions WHERE merchant_id = $1 AND id = $2",
        txn.merchant_id,
        txn.pending_id,
    )
    return found is not None


async def get_account(
    connection: asyncpg.Connection | asyncpg.Pool, merchant_id: str, account_id: str
) -> Account | None:
    """One account of one merchant with its balance (no lock)."""
    row = await connection.fetchrow(
        f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_accounts WHERE merchant_id = $1 AND id = $2",
        merchant_id,
        account_id,
    )
    return None if row is None else _account_from_row(row)


async def statement(
    connection: asyncpg.Connection | asyncpg.Pool,
    merchant_id: str,
    account_id: str,
    page_size: int,
    before_seq: int | None,
) -> list[StatementLine]:
    """Up to ``page_size`` entries of an account, newest first, older than ``before_seq``."""
    rows = await connection.fetch(
        """
        SELECT e.seq, e.transaction_id, e.amount, e.currency, e.create_time,
               t.kind, t.phase, t.reference, t.description, t.hold_state
        FROM ledger_entries e
        JOIN ledger_transactions t
          ON t.merchant_id = e.merchant_id AND t.id = e.transaction_id
        WHERE e.merchant_id = $1 AND e.account_id = $2 AND ($3::bigint IS NULL OR e.seq < $3)
        ORDER BY e.seq DESC LIMIT $4
        """,
        merchant_id,
        account_id,
        before_seq,
        page_size,
    )
    return [
        StatementLine(
            seq=row["seq"],
            transaction_id=row["transaction_id"],
            kind=TransactionKind(row["kind"]),
            phase=Phase(row["phase"]),
            amount=row["amount"],
            currency=row["currency"],
            reference=row["reference"],
            description=row["description"],
            created_at=row["create_time"],
            hold_state=row["hold_state"],
        )
        for row in rows
    ]
