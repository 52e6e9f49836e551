"""The sandbox card channel: a PSP test mode with deterministic outcomes by card number.

It answers in-process, so it needs no network and no state: the behaviour of a
test card on later operations (a refund that will fail, a capture that will be
refused) travels inside the channel reference it returns at authorization,
exactly as a real provider would look it up by reference.

Test cards (any future expiry, any CVC):

==================  =========================================================
number              outcome
==================  =========================================================
4242424242424242    authorized (visa)
5555555555554444    authorized (mastercard)
378282246310005     authorized (amex)
4000000000000002    declined: card_declined
4000000000009995    declined: insufficient_funds
4000000000000069    declined: expired_card
4000000000000127    declined: incorrect_cvc
4000000000000119    failed: processing_error (no money moved)
4000000000005126    authorized; every refund fails (refund_failed)
4000000000000259    authorized; capture and void are refused (capture_refused)
any other valid     authorized
==================  =========================================================
"""

from __future__ import annotations

from core.domain.attempt import Attempt, AttemptOutcome, ChannelResult
from core.domain.commands import CardInput
from core.domain.payment import Failure

_DECLINES = {
    "4000000000000002": ("card_declined", "The card was declined."),
    "4000000000009995": ("insufficient_funds", "The card has insufficient funds."),
    "4000000000000069": ("expired_card", "The card has expired."),
    "4000000000000127": ("incorrect_cvc", "The card's security code is incorrect."),
}
_FAILS = {"4000000000000119": ("processing_error", "The card could not be processed.")}

# Behaviour flags carried in the channel reference, for later operations.
_REFUND_FAILS = "rf"
_CAPTURE_REFUSED = "cr"
_FLAGS_BY_CARD = {"4000000000005126": _REFUND_FAILS, "4000000000000259": _CAPTURE_REFUSED}


class SandboxCardChannel:
    """Deterministic card acquirer test mode (see the module docstring for test cards)."""

    def __init__(self, name: str = "sandbox_card") -> None:
        self.name = name

    def supports(self, currency: str, brand: str) -> bool:
        """The sandbox takes every currency and brand."""
        return True

    async def authorize(self, attempt: Attempt, card: CardInput) -> ChannelResult:
        """Decide by card number; the reference encodes later-operation behaviour."""
        if card.number in _DECLINES:
            code, message = _DECLINES[card.number]
            return ChannelResult(AttemptOutcome.DECLINED, failure=Failure(code, message))
        if card.number in _FAILS:
            code, message = _FAILS[card.number]
            return ChannelResult(AttemptOutcome.FAILED, failure=Failure(code, message))
        flags = _FLAGS_BY_CARD.get(card.number, "")
        reference = f"sbx_{attempt.id.removeprefix('att_')}"
        return ChannelResult(
            AttemptOutcome.SUCCEEDED, reference=f"{reference}.{flags}" if flags else reference
        )

    @staticmethod
    def _flags(attempt: Attempt) -> str:
        _, _, flags = attempt.channel_reference.partition(".")
        return flags

    async def capture(self, attempt: Attempt) -> ChannelResult:
        """Capture succeeds unless the card was 4000000000000259."""
        if self._flags(attempt) == _CAPTURE_REFUSED:
            return ChannelResult(
                AttemptOutcome.DECLINED,
                failure=Failure("capture_refused", "The acquirer refused the capture."),
            )
        return ChannelResult(AttemptOutcome.SUCCEEDED, reference=attempt.channel_reference)

    async def void(self, attempt: Attempt) -> ChannelResult:
        """Void succeeds unless the card was 4000000000000259."""
        if self._flags(attempt) == _CAPTURE_REFUSED:
            return ChannelResult(
                AttemptOutcome.DECLINED,
                failure=Failure("void_refused", "The acquirer refused to release the hold."),
            )
        return ChannelResult(AttemptOutcome.SUCCEEDED, reference=attempt.channel_reference)

    async def refund(self, attempt: Attempt) -> ChannelResult:
        """Refund succeeds unless the card was 4000000000005126."""
        if self._flags(attempt) == _REFUND_FAILS:
            return ChannelResult(
                AttemptOutcome.FAILED,
                failure=Failure("refund_failed", "The acquirer could not refund the card."),
            )
        return ChannelResult(
            AttemptOutcome.SUCCEEDED, reference=f"sbxr_{attempt.id.removeprefix('att_')}"
        )
