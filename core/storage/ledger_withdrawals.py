"""Withdrawals in PostgreSQL (asyncpg): table ``ledger_withdrawals`` and its status-query schedule.

The money of a withdrawal moves by journal transactions posted by
core/storage/ledger.py in the same transaction as the row's change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from core.domain.money import Money
from core.domain.payment import Failure
from core.ledger.records import DueWithdrawal
from core.ledger.withdrawals import Withdrawal, WithdrawalState

_WITHDRAWAL_COLUMNS = """
    merchant_id, id, account_id, amount, currency, bank_account, description, state,
    create_time, update_time, failure_code, failure_message, bank_reference, risk_decision,
    risk_score, needs_attention
"""


def _withdrawal_from_row(row: asyncpg.Record) -> Withdrawal:
    code = row["failure_code"]
    return Withdrawal(
        id=row["id"],
        merchant_id=row["merchant_id"],
        account_id=row["account_id"],
        amount=Money(row["amount"], row["currency"]),
        bank_account=row["bank_account"],
        state=WithdrawalState(row["state"]),
        created_at=row["create_time"],
        updated_at=row["update_time"],
        description=row["description"],
        failure=Failure(code, row["failure_message"]) if code else None,
        bank_reference=row["bank_reference"],
        risk_decision=row["risk_decision"],
        risk_score=row["risk_score"],
        needs_attention=row["needs_attention"],
    )


async def insert_withdrawal(
    connection: asyncpg.Connection, withdrawal: Withdrawal, first_query: datetime | None = None
) -> None:
    """Store a new withdrawal (its hold is posted by the caller in the same transaction).

    ``first_query``: when the payout status queries first ask the bank about
    it (a PENDING withdrawal whose notification never comes).
    """
    failure = withdrawal.failure
    await connection.execute(
        f"INSERT INTO ledger_withdrawals ({_WITHDRAWAL_COLUMNS}, next_query_time)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        withdrawal.merchant_id,
        withdrawal.id,
        withdrawal.account_id,
        withdrawal.amount.amount,
        withdrawal.amount.currency,
        withdrawal.bank_account,
        withdrawal.description,
        withdrawal.state.value,
        withdrawal.created_at,
        withdrawal.updated_at,
        failure.code if failure else "",
        failure.message if failure else "",
        withdrawal.bank_reference,
        withdrawal.risk_decision,
        withdrawal.risk_score,
        withdrawal.needs_attention,
        first_query,
    )


async def get_withdrawal(
    connection: asyncpg.Connection | asyncpg.Pool,
    merchant_id: str,
    withdrawal_id: str,
    *,
    lock: bool = False,
) -> Withdrawal | None:
    """One withdrawal of one merchant (locked until the transaction ends with ``lock``)."""
    row = await connection.fetchrow(
        f"SELECT {_WITHDRAWAL_COLUMNS} FROM ledger_withdrawals WHERE merchant_id = $1 AND id = $2"
        + (" FOR UPDATE" if lock else ""),
        merchant_id,
        withdrawal_id,
    )
    return None if row is None else _withdrawal_from_row(row)


async def save_withdrawal_state(
    connection: asyncpg.Connection, withdrawal: Withdrawal, first_query: datetime | None = None
) -> None:
    """Store a withdrawal's new state (after ``get_withdrawal(lock=True)``).

    A final state ends its status queries; ``first_query`` schedules the
    first one of a withdrawal that has just been sent to the bank.
    """
    failure = withdrawal.failure
    await connection.execute(
        """
        UPDATE ledger_withdrawals SET state = $3, update_time = $4, failure_code = $5,
            failure_message = $6, bank_reference = $7, needs_attention = $8,
            next_query_time = $9, lease_until = NULL
        WHERE merchant_id = $1 AND id = $2
        """,
        withdrawal.merchant_id,
        withdrawal.id,
        withdrawal.state.value,
        withdrawal.updated_at,
        failure.code if failure else "",
        failure.message if failure else "",
        withdrawal.bank_reference,
        withdrawal.needs_attention,
        None if withdrawal.state.is_final else first_query,
    )


async def lease_due_withdrawals(
    pool: asyncpg.Pool, now: datetime, lease: timedelta, batch_size: int
) -> list[DueWithdrawal]:
    """Lease up to ``batch_size`` PENDING withdrawals whose next status query is due.

    One statement with ``FOR UPDATE SKIP LOCKED``: workers polling at once
    take disjoint batches; a lease that ran out (its worker died) is taken again.
    """
    rows = await pool.fetch(
        f"""
        WITH due AS (
            SELECT merchant_id, id FROM ledger_withdrawals
            WHERE state = 'pending' AND NOT needs_attention AND next_query_time <= $1
              AND (lease_until IS NULL OR lease_until < $1)
            ORDER BY next_query_time LIMIT $3
            FOR UPDATE SKIP LOCKED
        )
        UPDATE ledger_withdrawals w SET lease_until = $1 + $2
        FROM due WHERE w.merchant_id = due.merchant_id AND w.id = due.id
        RETURNING {", ".join("w." + c.strip() for c in _WITHDRAWAL_COLUMNS.split(","))},
            w.query_count
        """,
        now,
        lease,
        batch_size,
    )
    return [DueWithdrawal(_withdrawal_from_row(row), row["query_count"]) for row in rows]


async def reschedule_withdrawal_query(
    pool: asyncpg.Pool, merchant_id: str, withdrawal_id: str, next_query: datetime | None
) -> None:
    """Count a query that could not tell; ``next_query`` None marks it for a person."""
    await pool.execute(
        """
        UPDATE ledger_withdrawals
        SET query_count = query_count + 1, lease_until = NULL,
            next_query_time = $3::timestamptz, needs_attention = $3::timestamptz IS NULL
        WHERE merchant_id = $1 AND id = $2 AND state = 'pending'
        """,
        merchant_id,
        withdrawal_id,
        next_query,
    )
