"""The ledger's tables in PostgreSQL (asyncpg): accounts, journal transactions, entries.

Writes run on the connection of the caller's transaction (the payment save,
or a RequestExecutor plan), so entries commit together with the change that
caused them or not at all.

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
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from core.domain import ids
from core.domain.errors import NotFoundError, Reason
from core.domain.money import Money
from core.domain.payment import Failure, Payment
from core.ledger.accounts import (
    Account,
    AccountKind,
    Balance,
    system_account,
    system_account_id,
)
from core.ledger.balances import apply
from core.ledger.fees import FeeRule, FeeSchedule
from core.ledger.journal import Entry, JournalTransaction, Phase, TransactionKind
from core.ledger.postings import postings_for
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
from core.ledger.withdrawals import Withdrawal, WithdrawalState
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


async def post_payment_change(
    connection: asyncpg.Connection, before: Payment | None, after: Payment
) -> None:
    """The ledger hook of a payment save: post what ``before`` -> ``after`` moved, if anything.

    A payment authorized before the ledger existed (migration 0009) has no
    hold to resolve: its capture is posted outright and its void posts
    nothing, so payments in flight across the upgrade keep working.
    """
    postings = postings_for(before, after)
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


# --- settlement -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SettlementRecord:
    """A stored settlement: its figures and whether (and by which journal transaction) it moved."""

    id: str
    figures: SettlementFigures
    settled: bool
    """False when the net was negative: the items roll into the next settlement."""
    journal_id: str
    created_at: datetime


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

    It counts the day's own unsettled captures and refunds, and those of
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
        SELECT t.id, t.kind, t.reference, t.method, abs(e.amount) AS amount
        FROM ledger_transactions t
        JOIN ledger_entries e ON e.merchant_id = t.merchant_id AND e.transaction_id = t.id
        WHERE t.merchant_id = $1 AND t.currency = $2 AND t.settlement_id = ''
          AND t.kind IN ('capture', 'refund') AND t.create_time < $3 AND e.account_id = $4
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
            settled = $7, journal_id = $8
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
            WHERE t.settlement_id = '' AND t.kind IN ('capture', 'refund') AND t.create_time < $1
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


# --- withdrawals ------------------------------------------------------------------

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


@dataclass(frozen=True, slots=True)
class DueWithdrawal:
    """A PENDING withdrawal leased to this worker for a status query."""

    withdrawal: Withdrawal
    query_count: int


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
