"""Withdrawals leaving paycore: the bank's payout side, in its test mode.

``SimulatedBankPayouts`` plays the bank that receives payouts, like the
sandbox card channel plays an acquirer: ``submit`` registers the transfer and
returns at once; after ``settle_after_s`` the bank answers, and the answer is
applied with ``AccountService.complete_withdrawal`` (post the hold: paid out;
or release it: refused). Outcome by amount, deterministic:

================  ==========================================
amount ends in    the bank answers
================  ==========================================
...99 (minor)     refused (the hold is released)
anything else     paid out (the hold is posted)
================  ==========================================

A real bank adapter replaces this behind the same ``PayoutChannel`` interface;
its answer (a signed notification or a status query) ends in the same
``complete_withdrawal``, which is idempotent. A payout whose answer never
comes (process stopped before it) stays PENDING with its money held, for the
bank's reconciliation to settle; nothing is ever paid twice, because the
answer is applied at most once per withdrawal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from core.ledger.withdrawals import Withdrawal

log = logging.getLogger(__name__)

Complete = Callable[[str, str, bool], Awaitable[object]]
"""``AccountService.complete_withdrawal(merchant_id, withdrawal_id, succeeded)``."""


def bank_accepts(withdrawal: Withdrawal) -> bool:
    """The simulated bank's answer: an amount ending in 99 minor units is refused."""
    return withdrawal.amount.amount % 100 != 99


class SimulatedBankPayouts:
    """PayoutChannel in test mode: answers every payout after ``settle_after_s``."""

    def __init__(self, settle_after_s: float = 1.0) -> None:
        self._settle_after_s = settle_after_s
        self._complete: Complete | None = None
        self._answers: set[asyncio.Task[None]] = set()

    def answer_with(self, complete: Complete) -> None:
        """Where the bank's answers go (set once the AccountService exists)."""
        self._complete = complete

    async def submit(self, withdrawal: Withdrawal) -> None:
        """Register the payout; the answer follows in the background."""
        task = asyncio.create_task(self._answer(withdrawal), name=f"payout-{withdrawal.id}")
        self._answers.add(task)
        task.add_done_callback(self._answers.discard)

    async def close(self) -> None:
        """Stop waiting for answers (their withdrawals stay PENDING, money held)."""
        for task in list(self._answers):
            task.cancel()
        if self._answers:
            await asyncio.gather(*self._answers, return_exceptions=True)

    async def _answer(self, withdrawal: Withdrawal) -> None:
        await asyncio.sleep(self._settle_after_s)
        if self._complete is None:
            log.error("payout %s answered, but no one applies the answer", withdrawal.id)
            return
        try:
            await self._complete(withdrawal.merchant_id, withdrawal.id, bank_accepts(withdrawal))
        except Exception:
            # Not applied: the withdrawal stays PENDING with its hold, for the
            # bank's reconciliation; never paid out twice.
            log.exception("could not apply the bank's answer to payout %s", withdrawal.id)
