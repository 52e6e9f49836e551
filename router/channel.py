"""The channel adapter interface: how paycore talks to one payment provider."""

from __future__ import annotations

from typing import Protocol

from core.domain.attempt import Attempt, ChannelResult
from core.domain.commands import CardInput


class Channel(Protocol):
    """A payment provider connection.

    Every method receives the recorded ``Attempt`` whose ``id`` is the
    idempotency key to give the provider. A method returns a ChannelResult for
    every answer the provider gave; it raises only when it cannot tell what
    happened (the dispatcher then records UNKNOWN) or raises
    ``ChannelNotProcessed`` when the provider certainly did nothing.
    """

    name: str

    def supports(self, currency: str, brand: str) -> bool:
        """Whether this channel can carry a payment in that currency and card brand."""
        ...

    async def authorize(self, attempt: Attempt, card: CardInput) -> ChannelResult:
        """Authorize (and with ``attempt.capture`` also capture) ``attempt.amount``."""
        ...

    async def capture(self, attempt: Attempt) -> ChannelResult:
        """Capture ``attempt.amount`` of the authorization ``attempt.channel_reference``."""
        ...

    async def void(self, attempt: Attempt) -> ChannelResult:
        """Release the authorization ``attempt.channel_reference``."""
        ...

    async def refund(self, attempt: Attempt) -> ChannelResult:
        """Refund ``attempt.amount`` of the capture ``attempt.channel_reference``."""
        ...


class ChannelNotProcessed(Exception):  # noqa: N818 - a fact, not a failure of ours
    """The provider certainly did not process the request (e.g. connection refused)."""
