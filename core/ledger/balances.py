"""Applying a journal transaction to account balances (pure), with the overdraft rule.

Storage locks the accounts a transaction touches, calls ``apply`` on their
current balances, and writes what it returns: the decision (including
INSUFFICIENT_FUNDS) is made here, before anything is written, so a refused
spend leaves no trace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from core.domain.errors import PaycoreError, Reason
from core.domain.money import Money
from core.ledger.accounts import Account, Balance
from core.ledger.journal import Entry, JournalTransaction, Phase


def _add(balance: Balance, amount: int, *, pending: bool) -> Balance:
    """``balance`` with signed ``amount`` (credit positive) added to its posted or pending sums."""
    if pending:
        if amount > 0:
            return dataclasses.replace(balance, credits_pending=balance.credits_pending + amount)
        return dataclasses.replace(balance, debits_pending=balance.debits_pending - amount)
    if amount > 0:
        return dataclasses.replace(balance, credits_posted=balance.credits_posted + amount)
    return dataclasses.replace(balance, debits_posted=balance.debits_posted - amount)


def _release(balance: Balance, held: int) -> Balance:
    """``balance`` without a hold's entry of signed amount ``held``."""
    if held > 0:
        return dataclasses.replace(balance, credits_pending=balance.credits_pending - held)
    return dataclasses.replace(balance, debits_pending=balance.debits_pending + held)


def _check_posting_within_hold(txn: JournalTransaction, hold: Iterable[Entry]) -> None:
    held = {(e.account_id, e.currency): e.amount for e in hold}
    for entry in txn.entries:
        amount = held.get((entry.account_id, entry.currency))
        if amount is None or (amount > 0) != (entry.amount > 0) or abs(entry.amount) > abs(amount):
            raise ValueError(f"{txn.id} posts more than hold {txn.pending_id} reserved")


def apply(
    txn: JournalTransaction,
    accounts: Mapping[str, Account],
    hold: Iterable[Entry] = (),
) -> dict[str, Balance]:
    """The new balances of the accounts ``txn`` touches.

    ``accounts`` holds every account of ``txn``'s entries and of ``hold`` (the
    entries of the PENDING transaction a POST_PENDING or VOID_PENDING
    resolves). Raises FAILED_PRECONDITION INSUFFICIENT_FUNDS when an account
    that allows no overdraft would have less than nothing available, and
    ValueError for a transaction storage should never have been given.
    """
    hold = tuple(hold)
    balances = {account_id: account.balance for account_id, account in accounts.items()}
    for entry in (*txn.entries, *hold):
        account = accounts[entry.account_id]
        if account.currency != entry.currency:
            raise ValueError(f"entry in {entry.currency} on {account.id} in {account.currency}")
    if txn.phase is Phase.POST_PENDING:
        _check_posting_within_hold(txn, hold)
    if txn.phase in (Phase.POST_PENDING, Phase.VOID_PENDING):
        for entry in hold:  # release the whole hold: what is not posted goes back
            balances[entry.account_id] = _release(balances[entry.account_id], entry.amount)
    for entry in txn.entries:
        balances[entry.account_id] = _add(
            balances[entry.account_id], entry.amount, pending=txn.phase is Phase.PENDING
        )
    for entry in txn.entries:
        account = accounts[entry.account_id]
        available = balances[account.id].available
        if entry.amount < 0 and available < 0 and not account.allow_overdraft:
            raise PaycoreError(
                Reason.INSUFFICIENT_FUNDS,
                account_id=account.id,
                available=Money(max(account.balance.available, 0), account.currency),
                requested=Money(-entry.amount, account.currency),
            )
    return {
        account_id: b for account_id, b in balances.items() if b != accounts[account_id].balance
    }
