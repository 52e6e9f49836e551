"""Settlements and merchants' fee rules in PostgreSQL (asyncpg).

Tables ``ledger_settlements`` and ``ledger_fee_rules``.

A settlement moves a merchant's day out of ``merchant_pending`` (net to the
merchant's available balance, fees to fee revenue)
with one journal transaction posted by core/storage/ledger.py, in the
caller's transaction.
"""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

from core.domain import ids
from core.ledger.accounts import AccountKind, system_account_id
from core.ledger.fees import FeeRule, FeeSchedule
from core.ledger.journal import TransactionKind
from core.ledger.records import SettlementRecord
from core.ledger.settlement import (
    SETTLEMENT_TIME_ZONE,
    SettlementDay,
    SettlementFigures,
    SettlementItem,
    SettlementLine,
    compute_settlement,
    day_end,
    day_start,
    settlement_transaction,
)
from core.storage.ledger import post


async def fee_rules(
    connection: asyncpg.Connection | asyncpg.Pool, merchant_id: str
) -> dict[str, FeeRule]:
    """The merchant's own fee rules, by method."""
    rows = await connection.fetch(
        "SELECT method, bps, fixed_minor FROM ledger_fee_rules WHERE merchant_id = $1"
        " ORDER BY method",
        merchant_id,
    )
    return {row["method"]: FeeRule(row["bps"], row["fixed_minor"]) for row in rows}


async def replace_fee_rules(
    connection: asyncpg.Connection, merchant_id: str, rules: dict[str, FeeRule]
) -> dict[str, FeeRule]:
    """Replace the merchant's fee rules (inside the caller's transaction); returns the old ones.

    An advisory lock per merchant comes first, so two changes of one merchant's rules
    apply one after the other and each audit record's "before" is exact.
    """
    await connection.execute(
        "SELECT pg_advisory_xact_lock(hashtext('ledger_fee_rules:' || $1))", merchant_id
    )
    before = await fee_rules(connection, merchant_id)
    await connection.execute("DELETE FROM ledger_fee_rules WHERE merchant_id = $1", merchant_id)
    await connection.executemany(
        "INSERT INTO ledger_fee_rules (merchant_id, method, bps, fixed_minor)"
        " VALUES ($1, $2, $3, $4)",
        [(merchant_id, method, r.bps, r.fixed_minor) for method, r in sorted(rules.items())],
    )
    return before


async def _fee_schedule(
    connection: asyncpg.Connection, merchant_id: str, default: FeeRule
) -> FeeSchedule:
    return FeeSchedule(default, await fee_rules(connection, merchant_id))


async def settle(
    connection: asyncpg.Connection, day: SettlementDay, default_fee: FeeRule, at: datetime
) -> SettlementRecord:
    """Settle one merchant's currency for ``business_date`` (inside the caller's transaction).

    It counts the day's own unsettled captures, refunds and dispute movements
    on the pending balance (core/ledger/settlement.py), and those of
    earlier days that were settled already (a negative day's, carried over;
    one committed after its day was settled): never an earlier day's that
    still awaits its own settlement, never a later day's.

    Idempotent and safe with several workers: the settlement row is claimed
    first by its unique (merchant, currency, date) key; a second worker's
    INSERT waits for the first transaction and then finds its row, which is
    returned unchanged. The items are locked (FOR UPDATE) and marked with the
    settlement's id in the same transaction as the journal entries.
    """
    merchant_id, currency, business_date = day.merchant_id, day.currency, day.business_date
    claimed = await connection.fetchval(
        """
        INSERT INTO ledger_settlements (merchant_id, id, currency, business_date, create_time)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (merchant_id, currency, business_date) DO NOTHING RETURNING id
        """,
        merchant_id,
        ids.new_id(ids.SETTLEMENT),
        currency,
        business_date,
        at,
    )
    if claimed is None:
        existing = await settlement_record(connection, day)
        assert existing is not None  # the conflicting row is committed
        return existing
    rows = await connection.fetch(
        """
        SELECT t.id, t.kind, t.reference, t.method,
               CASE WHEN t.kind = 'dispute' THEN e.amount ELSE abs(e.amount) END AS amount
        FROM ledger_transactions t
        JOIN ledger_entries e ON e.merchant_id = t.merchant_id AND e.transaction_id = t.id
        WHERE t.merchant_id = $1 AND t.currency = $2 AND t.settlement_id = ''
          AND t.kind IN ('capture', 'refund', 'dispute') AND t.create_time < $3
          AND e.account_id = $4
          AND (t.create_time >= $5 OR EXISTS (
            SELECT 1 FROM ledger_settlements s
            WHERE s.merchant_id = t.merchant_id AND s.currency = t.currency
              AND s.business_date = (t.create_time AT TIME ZONE $6::text)::date))
        ORDER BY t.id FOR UPDATE OF t
        """,
        merchant_id,
        currency,
        day_end(business_date),
        system_account_id(AccountKind.MERCHANT_PENDING, currency),
        day_start(business_date),
        str(SETTLEMENT_TIME_ZONE),
    )
    items = [
        SettlementItem(
            r["id"], TransactionKind(r["kind"]), r["reference"], r["method"], r["amount"]
        )
        for r in rows
    ]
    fees = await _fee_schedule(connection, merchant_id, default_fee)
    figures = compute_settlement(merchant_id, currency, business_date, items, fees)
    journal_id = ""
    if figures.settles:
        if figures.moves:
            journal_id = f"{claimed}:journal"
            await post(connection, settlement_transaction(journal_id, figures), at)
        await connection.execute(
            """
            UPDATE ledger_transactions SET settlement_id = $3
            WHERE merchant_id = $1 AND id = ANY($2::text[])
            """,
            merchant_id,
            [item.transaction_id for item in items],
            claimed,
        )
    await connection.executemany(
        """
        INSERT INTO ledger_settlement_lines (merchant_id, settlement_id, transaction_id, kind,
                                             reference, method, amount, fee)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        [
            (
                merchant_id,
                claimed,
                line.item.transaction_id,
                line.item.kind.value,
                line.item.reference,
                line.item.method,
                line.item.amount,
                line.fee,
            )
            for line in figures.lines
        ],
    )
    await connection.execute(
        """
        UPDATE ledger_settlements SET captured = $3, refunded = $4, fees = $5, net = $6,
            settled = $7, journal_id = $8, disputed = $9
        WHERE merchant_id = $1 AND id = $2
        """,
        merchant_id,
        claimed,
        figures.captured,
        figures.refunded,
        figures.fees,
        figures.net,
        figures.settles,
        journal_id,
        figures.disputed,
    )
    return SettlementRecord(claimed, figures, figures.settles, journal_id, at)


async def settlement_record(
    connection: asyncpg.Connection | asyncpg.Pool, day: SettlementDay
) -> SettlementRecord | None:
    """The stored settlement of a merchant's currency and day, with its lines."""
    merchant_id, currency, business_date = day.merchant_id, day.currency, day.business_date
    row = await connection.fetchrow(
        """
        SELECT id, settled, journal_id, create_time FROM ledger_settlements
        WHERE merchant_id = $1 AND currency = $2 AND business_date = $3
        """,
        merchant_id,
        currency,
        business_date,
    )
    if row is None:
        return None
    lines = await connection.fetch(
        """
        SELECT transaction_id, kind, reference, method, amount, fee FROM ledger_settlement_lines
        WHERE merchant_id = $1 AND settlement_id = $2 ORDER BY transaction_id
        """,
        merchant_id,
        row["id"],
    )
    figures = SettlementFigures(
        merchant_id,
        currency,
        business_date,
        tuple(
            SettlementLine(
                SettlementItem(
                    r["transaction_id"],
                    TransactionKind(r["kind"]),
                    r["reference"],
                    r["method"],
                    r["amount"],
                ),
                r["fee"],
            )
            for r in lines
        ),
    )
    return SettlementRecord(
        row["id"], figures, row["settled"], row["journal_id"], row["create_time"]
    )


async def due_settlements(
    connection: asyncpg.Connection | asyncpg.Pool, last_closed: date
) -> list[SettlementDay]:
    """The settlements the daily job owes, up to ``last_closed``, oldest first.

    Each unsettled item's own day, when that day has no settlement yet; for an
    item whose day was settled already (carried over), ``last_closed``.
    """
    rows = await connection.fetch(
        """
        WITH items AS (
            SELECT DISTINCT t.merchant_id, t.currency,
                   (t.create_time AT TIME ZONE $2::text)::date AS own_day
            FROM ledger_transactions t
            WHERE t.settlement_id = '' AND t.kind IN ('capture', 'refund', 'dispute')
              AND t.create_time < $1
              -- Of dispute movements, those on the pending balance (a lost chargeback's
              -- payment to the channel leaves the dispute account: no settlement's item).
              AND (t.kind <> 'dispute' OR EXISTS (
                SELECT 1 FROM ledger_entries e
                WHERE e.merchant_id = t.merchant_id AND e.transaction_id = t.id
                  AND e.account_id = 'merchant_pending.' || t.currency))
        ), due AS (
            SELECT DISTINCT i.merchant_id, i.currency,
                   CASE WHEN s.id IS NULL THEN i.own_day ELSE $3::date END AS business_date
            FROM items i LEFT JOIN ledger_settlements s
              ON s.merchant_id = i.merchant_id AND s.currency = i.currency
             AND s.business_date = i.own_day
        )
        SELECT d.merchant_id, d.currency, d.business_date FROM due d
        WHERE NOT EXISTS (
            SELECT 1 FROM ledger_settlements s WHERE s.merchant_id = d.merchant_id
              AND s.currency = d.currency AND s.business_date = d.business_date)
        ORDER BY d.business_date, d.merchant_id, d.currency
        """,
        day_end(last_closed),
        str(SETTLEMENT_TIME_ZONE),
        last_closed,
    )
    return [SettlementDay(r["merchant_id"], r["currency"], r["business_date"]) for r in rows]
