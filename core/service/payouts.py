"""Withdrawals leaving paycore through the bank channel's payout side, and the bank's answers.

How a withdrawal reaches the bank and how its answer comes back::

    WithdrawFunds commits (hold placed, PENDING, first status query scheduled)
    BankPayouts.submit          -> bank: "pending"        (after the commit)
    bank notifies (RSA-signed)  -> POST /callbacks/bank_transfer/payouts
                                   (core/callbacks/payouts.py) -> complete_withdrawal
    no notification by then     -> PayoutStatusQueries asks the bank:
                                   paid/refused -> complete_withdrawal
                                   pending      -> ask again later (schedule)
                                   unknown      -> the bank never got it (a crash
                                                   between commit and submit): submit again
                                   schedule ran out -> needs_attention (a person settles it)

``complete_withdrawal`` applies an answer at most once (the withdrawal row is
locked and must still be PENDING), so a notification and a status query
racing each other, or a notification delivered twice, pay out once. Submit
is idempotent at the bank by withdrawal id, so submitting again is safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from core.domain.payment import Failure
from core.ledger.records import DueWithdrawal
from core.ledger.withdrawals import Withdrawal
from core.service.status_query import poll_rounds
from router.channels.bank_payouts import Payout, PayoutAnswer, PayoutStatus

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PayoutBank(Protocol):
    """The bank's payout side as paycore calls it (router/channels/bank_payouts.py)."""

    async def submit(self, payout: Payout) -> PayoutAnswer:
        """Send a payout (idempotent by id)."""
        ...

    async def query(self, payout_id: str, merchant_id: str) -> PayoutAnswer:
        """Where a payout is."""
        ...


class CompleteWithdrawal(Protocol):
    """``AccountService.complete_withdrawal``."""

    async def __call__(
        self,
        merchant_id: str,
        withdrawal_id: str,
        succeeded: bool,
        *,
        failure: Failure | None = None,
        bank_reference: str = "",
    ) -> Withdrawal:
        """Apply the bank's answer once."""
        ...


class DueWithdrawals(Protocol):
    """The withdrawals' status-query bookkeeping (core/storage/ledger_store.py)."""

    async def lease_due_withdrawals(
        self, now: datetime, lease: timedelta, batch_size: int
    ) -> list[DueWithdrawal]:
        """PENDING withdrawals whose query is due, leased to this worker."""
        ...

    async def reschedule_withdrawal_query(
        self, merchant_id: str, withdrawal_id: str, next_query: datetime | None
    ) -> None:
        """Count a query that could not tell; None: needs a person."""
        ...


def payout_of(withdrawal: Withdrawal) -> Payout:
    """What the bank is told about a withdrawal."""
    return Payout(withdrawal.id, withdrawal.merchant_id, withdrawal.amount, withdrawal.bank_account)


async def apply_answer(complete: CompleteWithdrawal, answer: PayoutAnswer) -> Withdrawal | None:
    """Apply a final answer of the bank (a notification's or a query's); None if not final."""
    if not answer.status.is_final:
        return None
    paid = answer.status is PayoutStatus.PAID
    failure = (
        None if paid else Failure(answer.failure_code or "payout_refused", answer.failure_message)
    )
    return await complete(
        answer.merchant_id,
        answer.payout_id,
        paid,
        failure=failure,
        bank_reference=answer.reference,
    )


class BankPayouts:
    """The PayoutChannel of AccountService: hands withdrawals to the bank."""

    def __init__(self, bank: PayoutBank, first_query_after_s: float) -> None:
        self._bank = bank
        self.first_query_after_s = first_query_after_s
        """When a status query first asks about a submitted withdrawal (its notification
        normally comes first)."""

    async def submit(self, withdrawal: Withdrawal) -> None:
        """Send the payout; its answer comes by notification or status query."""
        await self._bank.submit(payout_of(withdrawal))


@dataclass(frozen=True, slots=True)
class PayoutQuerySettings:
    """The payout status queries' schedule (``ledger.payout_*`` settings)."""

    delays_s: tuple[float, ...]
    """Seconds before each query: the first after the submit, each next after the previous
    one; when the last still cannot tell, the withdrawal needs a person."""
    poll_interval_s: float = 5.0
    lease_s: float = 30.0
    batch_size: int = 50


class PayoutStatusQueries:
    """Asks the bank about PENDING withdrawals whose answer has not come (module docstring)."""

    def __init__(
        self,
        *,
        store: DueWithdrawals,
        bank: PayoutBank,
        complete: CompleteWithdrawal,
        settings: PayoutQuerySettings,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._store = store
        self._bank = bank
        self._complete = complete
        self._settings = settings
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; a failed round is logged and retried next round."""
        settings = self._settings
        await poll_rounds(
            stop, self.run_once, settings.batch_size, settings.poll_interval_s, "payout query"
        )

    async def run_once(self) -> int:
        """One round: lease due withdrawals, ask the bank, apply; returns how many."""
        settings = self._settings
        due = await self._store.lease_due_withdrawals(
            self._clock(), timedelta(seconds=settings.lease_s), settings.batch_size
        )
        for item in due:
            try:
                await self._resolve(item)
            except Exception:
                # Left leased: the next round after the lease takes it again.
                log.exception("payout status query of %s failed", item.withdrawal.id)
        return len(due)

    async def _resolve(self, due: DueWithdrawal) -> None:
        withdrawal = due.withdrawal
        answer = await self._bank.query(withdrawal.id, withdrawal.merchant_id)
        if answer.status is PayoutStatus.UNKNOWN:
            # Committed but never received by the bank (a crash or a failed
            # submit right after the commit): submitting again is safe, the
            # bank dedupes by withdrawal id.
            log.warning("payout %s unknown to the bank: submitting it again", withdrawal.id)
            answer = await self._bank.submit(payout_of(withdrawal))
        if await apply_answer(self._complete, answer) is not None:
            return
        following = due.query_count + 1
        delays = self._settings.delays_s
        if following < len(delays):
            next_query = self._clock() + timedelta(seconds=delays[following])
            await self._store.reschedule_withdrawal_query(
                withdrawal.merchant_id, withdrawal.id, next_query
            )
            return
        log.warning(
            "payout %s still not answered after %d status queries: needs manual attention",
            withdrawal.id,
            following,
        )
        await self._store.reschedule_withdrawal_query(withdrawal.merchant_id, withdrawal.id, None)
