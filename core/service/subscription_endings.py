"""Ending subscriptions at once: a cancel now, and every subscription of a deleted customer.

Both void the open invoice of what they end (billing records a charge already in
flight as paid: core/service/billing.py), and the customer's end announces
``subscription.canceled`` for each subscription, as a cancel does.
"""

from __future__ import annotations

from datetime import datetime

from core.domain import subscriptions as rules
from core.domain.billing_events import subscription_events
from core.domain.invoices import voided
from core.domain.subscriptions import Subscription
from core.ports.repository import PaymentTransaction


async def void_open_invoice(tx: PaymentTransaction, ended: Subscription, now: datetime) -> None:
    """Void ``ended``'s open invoice, if it has one and billing has stopped for it."""
    if ended.next_billing_at is not None:
        return  # canceled at period end: the period still bills
    records = tx.subscriptions
    open_invoice = await records.open_invoice(ended.merchant_id, ended.id)
    if open_invoice is not None:
        await records.save_invoice(voided(open_invoice, now))


async def end_customers_subscriptions(
    tx: PaymentTransaction, merchant_id: str, customer_id: str, at: datetime
) -> None:
    """Cancel now every subscription of a customer being deleted (``at``: the wall clock).

    A deleted customer can pay for nothing and is a member of nothing: its
    subscriptions, trialing, active, past due, paused or unpaid, end with it,
    in the transaction that deletes it, so no renewal charges a customer who is gone.
    """
    records = tx.subscriptions
    now = await records.clock_now(merchant_id, at)
    for before in await records.lock_of_customer(merchant_id, customer_id):
        after = rules.canceled(before, now)
        await void_open_invoice(tx, after, now)
        await records.save(after)
        await records.announce(subscription_events(before, after), at)
