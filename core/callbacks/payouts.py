"""``POST /callbacks/bank_transfer/payouts``: the bank's signed answers about withdrawals.

Served on the channel notifications port next to ``/callbacks/<channel>``
(core/callbacks/ingress.py), with the same answers, as banks retry anything
but a 2xx:

- 401: missing, wrong or stale signature (logged with why); nothing applied;
- 400: a verified body that is not a payout notification;
- 404: a withdrawal paycore does not have;
- 200 ``[accepted]``: applied, or nothing to do.

Applying is idempotent and order-safe (``AccountService.complete_withdrawal``):
the first final answer posts or releases the hold; the same notification
again, a late "pending", or an answer contradicting the one applied change
nothing (a contradiction is logged for a person).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from core.callbacks.ingress import ACCEPTED
from core.ledger.withdrawals import Withdrawal, WithdrawalState
from core.service.payouts import CompleteWithdrawal, apply_answer
from router.channel import BadSignature
from router.channels.bank_payouts import PAYOUTS_PATH, PayoutAnswer, PayoutStatus

log = logging.getLogger(__name__)


class PayoutNotifications(Protocol):
    """What verifies and decodes the bank's notifications (BankPayoutChannel)."""

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PayoutAnswer:
        """The verified answer; BadSignature or ValueError otherwise."""
        ...


class Withdrawals(Protocol):
    """Looking a withdrawal up (AccountService's ledger store)."""

    async def get_withdrawal(self, merchant_id: str, withdrawal_id: str) -> Withdrawal | None:
        """One withdrawal of one merchant."""
        ...


_APPLIED = {
    PayoutStatus.PAID: WithdrawalState.SUCCEEDED,
    PayoutStatus.REFUSED: WithdrawalState.FAILED,
}


class PayoutIngress:
    """The payout notification handler (mounted on the callbacks endpoint by the server)."""

    def __init__(
        self,
        *,
        channel: PayoutNotifications,
        withdrawals: Withdrawals,
        complete: CompleteWithdrawal,
    ) -> None:
        self._channel = channel
        self._withdrawals = withdrawals
        self._complete = complete

    def install(self, app: web.Application) -> None:
        """Add ``POST /callbacks/bank_transfer/payouts`` to ``app``."""
        app.router.add_post(PAYOUTS_PATH, self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            answer = self._channel.parse_notification(request.headers, body)
        except BadSignature as exc:
            log.warning("payout callback refused: peer=%s reason=%s", request.remote, exc)
            return web.Response(status=401, text="bad signature")
        except ValueError as exc:
            log.warning("payout callback malformed: %s", exc)
            return web.Response(status=400, text="not a payout notification")
        found = await self._withdrawals.get_withdrawal(answer.merchant_id, answer.payout_id)
        if found is None:
            log.warning("payout callback for unknown withdrawal %s", answer.payout_id)
            return web.Response(status=404, text="unknown withdrawal")
        applied = await apply_answer(self._complete, answer)
        expected = _APPLIED.get(answer.status)
        if applied is not None and expected is not None and applied.state is not expected:
            log.error(
                "payout callback says %s for withdrawal %s, recorded %s: left unchanged, check it",
                answer.status.value,
                answer.payout_id,
                applied.state.value,
            )
        return web.Response(text=ACCEPTED)
