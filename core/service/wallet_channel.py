"""The wallet "channel": what the router calls for operations on payments paid from a wallet.

A payment paid from a customer wallet (AccountService.PayFromWallet) never
leaves paycore: the money moves in the ledger, in the same transaction as the
payment's change (core/ledger/postings.py). Operations that the payment
lifecycle sends to a channel (a refund, through PaymentService.RefundPayment)
reach this adapter, which has nothing to do and answers SUCCEEDED at once;
the refund's posting then credits the wallet. Its profile carries only the
method ``wallet``, which no card payment asks for, so routing never picks it.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.domain.attempt import Attempt, AttemptOutcome, ChannelResult
from core.domain.commands import CardInput
from router.channel import Notification
from router.routing import ChannelProfile

WALLET_CHANNEL = "wallet"


class WalletChannel:
    """router.Channel for wallet-funded payments: every operation succeeds in the ledger."""

    name = WALLET_CHANNEL
    profile = ChannelProfile(name=WALLET_CHANNEL, methods=frozenset({"wallet"}))

    async def authorize(self, attempt: Attempt, card: CardInput | None) -> ChannelResult:
        """Not used: PayFromWallet captures in its own transaction, without a channel call."""
        raise NotImplementedError("wallet payments are captured by PayFromWallet")

    async def capture(self, attempt: Attempt) -> ChannelResult:
        """Nothing to do outside the ledger."""
        return self._done(attempt)

    async def void(self, attempt: Attempt) -> ChannelResult:
        """Nothing to do outside the ledger."""
        return self._done(attempt)

    async def refund(self, attempt: Attempt) -> ChannelResult:
        """Nothing to do outside the ledger: the refund's posting credits the wallet."""
        return self._done(attempt)

    async def query(self, attempt: Attempt) -> ChannelResult:
        """Every wallet operation finished when it was made."""
        return self._done(attempt)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> Notification:
        """The wallet sends no notifications."""
        raise NotImplementedError("the wallet channel sends no notifications")

    @staticmethod
    def _done(attempt: Attempt) -> ChannelResult:
        return ChannelResult(AttemptOutcome.SUCCEEDED, reference=f"wallet_{attempt.id}")
