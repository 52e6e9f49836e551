"""The wallet "channel": what the router calls for operations on payments paid from a wallet.

A payment paid from a customer wallet (AccountService.PayFromWallet) never
leaves paycore: the money moves in the ledger, in the same transaction as the
payment's change (core/ledger/postings.py). Operations that the payment
lifecycle sends to a channel (a refund, through PaymentService.RefundPayment)
reach this adapter, which has nothing to do and answers SUCCEEDED at once;
the refund's posting then credits the wallet. It is never chosen for a card
(``supports`` is False), so routing is unchanged.
"""

from __future__ import annotations

from core.domain.attempt import Attempt, AttemptOutcome, ChannelResult
from core.domain.commands import CardInput

WALLET_CHANNEL = "wallet"


class WalletChannel:
    """router.Channel for wallet-funded payments: every operation succeeds in the ledger."""

    name = WALLET_CHANNEL

    def supports(self, currency: str, brand: str) -> bool:
        """Never: a card payment is never routed here."""
        return False

    async def authorize(self, attempt: Attempt, card: CardInput) -> ChannelResult:
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

    @staticmethod
    def _done(attempt: Attempt) -> ChannelResult:
        return ChannelResult(AttemptOutcome.SUCCEEDED, reference=f"wallet_{attempt.id}")
