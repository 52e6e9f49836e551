"""The ledger's invariants, checked against what PostgreSQL committed for one merchant."""

from __future__ import annotations

import asyncpg


async def assert_ledger_consistent(db: asyncpg.Pool, merchant_id: str) -> None:
    """Every invariant of issue 6 for ``merchant_id``; AssertionError names the first broken one.

    - every journal transaction's entries sum to zero per currency (so the
      whole ledger does);
    - every account's four balance sums equal the sums of its entries
      (posted: posted and post_pending transactions; pending: open holds);
    - no account without overdraft is below zero (available, holds counted);
    - every payment has captured >= refunded, and the ledger agrees with it:
      what it captured and refunded was posted (to merchant_pending, or to
      the wallet it tops up), and it has an open hold exactly while it is
      authorized;
    - every withdrawal agrees with its hold: open while PENDING or held for
      review, posted once SUCCEEDED, released once FAILED (or DECLINED after
      a review), absent when risk DECLINED it outright;
    - every chargeback agrees with the ledger: opened (amount and fee), then
      returned exactly when WON and paid to the channel exactly when LOST;
      the dispute account holds the open chargebacks' amounts; and no payment
      has refunds and chargebacks holding its money beyond what it captured.
    """
    unbalanced = await db.fetch(
        """
        SELECT transaction_id, currency, sum(amount) AS total FROM ledger_entries
        WHERE merchant_id = $1 GROUP BY transaction_id, currency HAVING sum(amount) <> 0
        """,
        merchant_id,
    )
    assert not unbalanced, f"unbalanced journal transactions: {unbalanced}"
    totals = await db.fetch(
        "SELECT currency, sum(amount) AS total FROM ledger_entries WHERE merchant_id = $1"
        " GROUP BY currency HAVING sum(amount) <> 0",
        merchant_id,
    )
    assert not totals, f"ledger does not sum to zero: {totals}"
    drift = await db.fetch(
        """
        WITH sums AS (
            SELECT e.account_id,
                COALESCE(sum(-e.amount) FILTER (WHERE t.phase IN ('posted', 'post_pending')
                                               AND e.amount < 0), 0) AS debits_posted,
                COALESCE(sum(e.amount) FILTER (WHERE t.phase IN ('posted', 'post_pending')
                                              AND e.amount > 0), 0) AS credits_posted,
                COALESCE(sum(-e.amount) FILTER (WHERE t.hold_state = 'open' AND e.amount < 0), 0)
                    AS debits_pending,
                COALESCE(sum(e.amount) FILTER (WHERE t.hold_state = 'open' AND e.amount > 0), 0)
                    AS credits_pending
            FROM ledger_entries e
            JOIN ledger_transactions t ON t.merchant_id = e.merchant_id AND t.id = e.transaction_id
            WHERE e.merchant_id = $1 GROUP BY e.account_id
        )
        SELECT a.id, a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending,
               s.debits_posted AS e_dp, s.credits_posted AS e_cp, s.debits_pending AS e_dh,
               s.credits_pending AS e_ch
        FROM ledger_accounts a LEFT JOIN sums s ON s.account_id = a.id
        WHERE a.merchant_id = $1 AND (
            a.debits_posted <> COALESCE(s.debits_posted, 0)
            OR a.credits_posted <> COALESCE(s.credits_posted, 0)
            OR a.debits_pending <> COALESCE(s.debits_pending, 0)
            OR a.credits_pending <> COALESCE(s.credits_pending, 0))
        """,
        merchant_id,
    )
    assert not drift, f"balances differ from their entries: {drift}"
    overdrawn = await db.fetch(
        """
        SELECT id FROM ledger_accounts WHERE merchant_id = $1 AND NOT allow_overdraft
          AND credits_posted - debits_posted - debits_pending < 0
        """,
        merchant_id,
    )
    assert not overdrawn, f"accounts below zero: {overdrawn}"
    disagreeing = await db.fetch(
        """
        WITH moved AS (
            SELECT t.reference,
                COALESCE(sum(e.amount) FILTER (WHERE t.kind = 'capture' AND e.amount > 0), 0)
                    AS captured,
                COALESCE(sum(e.amount) FILTER (WHERE t.kind = 'refund' AND e.amount > 0), 0)
                    AS refunded,
                bool_or(t.hold_state = 'open') AS holds
            FROM ledger_transactions t
            JOIN ledger_entries e ON e.merchant_id = t.merchant_id AND e.transaction_id = t.id
            WHERE t.merchant_id = $1 AND t.reference <> ''
            GROUP BY t.reference
        )
        SELECT p.id, p.state, p.amount_captured, p.amount_refunded, m.captured, m.refunded, m.holds
        FROM payments p LEFT JOIN moved m ON m.reference = p.id
        WHERE p.merchant_id = $1 AND (
            p.amount_captured < p.amount_refunded
            OR p.amount_captured <> COALESCE(m.captured, 0)
            OR p.amount_refunded <> COALESCE(m.refunded, 0)
            OR (p.state = 'authorized') <> COALESCE(m.holds, false))
        """,
        merchant_id,
    )
    assert not disagreeing, f"payments and ledger disagree: {disagreeing}"
    withdrawals = await db.fetch(
        """
        SELECT w.id, w.state, t.hold_state FROM ledger_withdrawals w
        LEFT JOIN ledger_transactions t ON t.merchant_id = w.merchant_id AND t.id = w.id || ':hold'
        WHERE w.merchant_id = $1 AND NOT COALESCE(
            (w.state IN ('pending', 'requires_review') AND t.hold_state = 'open')
            OR (w.state = 'succeeded' AND t.hold_state = 'posted')
            OR (w.state = 'failed' AND t.hold_state = 'voided')
            OR (w.state = 'declined' AND (t.id IS NULL OR t.hold_state = 'voided')), false)
        """,
        merchant_id,
    )
    assert not withdrawals, f"withdrawals and ledger disagree: {withdrawals}"

    disputes = await db.fetch(
        """
        WITH moved AS (
            SELECT split_part(t.id, ':', 1) AS dispute_id,
                   array_agg(split_part(t.id, ':', 2) ORDER BY split_part(t.id, ':', 2)) AS steps,
                   COALESCE(max(e.amount) FILTER (WHERE t.id LIKE '%:open'), 0) AS opened
            FROM ledger_transactions t
            JOIN ledger_entries e ON e.merchant_id = t.merchant_id AND e.transaction_id = t.id
                                 AND e.amount > 0
            WHERE t.merchant_id = $1 AND t.kind = 'dispute'
            GROUP BY 1
        )
        SELECT d.id, d.status, d.amount, d.fee, m.steps, m.opened FROM disputes d
        LEFT JOIN moved m ON m.dispute_id = d.id
        WHERE d.merchant_id = $1 AND d.kind = 'chargeback' AND NOT COALESCE(
            m.opened = d.amount AND m.steps = (
                SELECT array_agg(step ORDER BY step) FROM unnest(
                    ARRAY['open']
                    || CASE WHEN d.fee > 0 THEN ARRAY['fee'] ELSE ARRAY[]::text[] END
                    || CASE WHEN d.status IN ('won', 'lost') THEN ARRAY[d.status]
                       ELSE ARRAY[]::text[] END) AS step), false)
        """,
        merchant_id,
    )
    assert not disputes, f"chargebacks and ledger disagree: {disputes}"
    held = await db.fetchval(
        """
        SELECT COALESCE(sum(amount), 0) FROM disputes WHERE merchant_id = $1
          AND kind = 'chargeback' AND status IN ('needs_response', 'under_review')
        """,
        merchant_id,
    )
    in_account = await db.fetchval(
        """
        SELECT COALESCE(sum(credits_posted - debits_posted), 0) FROM ledger_accounts
        WHERE merchant_id = $1 AND kind = 'dispute'
        """,
        merchant_id,
    )
    assert held == in_account, f"open chargebacks {held} but the dispute account holds {in_account}"
    beyond = await db.fetch(
        """
        SELECT p.id, p.amount_captured, p.amount_refunded, sum(d.amount) AS disputed
        FROM payments p JOIN disputes d ON d.merchant_id = p.merchant_id AND d.payment_id = p.id
        WHERE p.merchant_id = $1 AND d.kind = 'chargeback' AND d.status <> 'won'
        GROUP BY p.id, p.amount_captured, p.amount_refunded
        HAVING p.amount_refunded + sum(d.amount) > p.amount_captured
        """,
        merchant_id,
    )
    assert not beyond, f"refunds and chargebacks beyond the capture: {beyond}"
