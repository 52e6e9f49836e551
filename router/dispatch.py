"""Runs channel calls: picks the channel, bounds the wait, classifies every ending."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.commands import CardInput
from core.domain.payment import Failure
from router.channel import Channel, ChannelNotProcessed
from router.routing import choose_channel

log = logging.getLogger(__name__)


class RoutingError(LookupError):
    """No configured channel can carry the payment."""


class Router:
    """The router: holds the channels in priority order and talks to them."""

    def __init__(self, channels: Sequence[Channel], timeout_s: float) -> None:
        if not channels:
            raise ValueError("the router needs at least one channel")
        self._channels = {channel.name: channel for channel in channels}
        self._ordered = tuple(channels)
        self._timeout_s = timeout_s

    def route(self, currency: str, brand: str) -> str:
        """The channel that will carry a payment (raises RoutingError if none can)."""
        name = choose_channel(self._ordered, currency, brand)
        if name is None:
            raise RoutingError(f"no channel supports {currency} {brand} cards")
        return name

    async def execute(self, attempt: Attempt, card: CardInput | None = None) -> ChannelResult:
        """Make the call ``attempt`` describes and classify the ending.

        A timeout or any unexpected error means the provider may have acted:
        that is UNKNOWN, never FAILED, so nobody retries a call that might have
        moved money. Only ChannelNotProcessed proves nothing happened.
        """
        channel = self._channels[attempt.channel]
        try:
            async with asyncio.timeout(self._timeout_s):
                if attempt.operation is ChannelOperation.AUTHORIZE:
                    if card is None:
                        raise ValueError("authorize needs the card")
                    return await channel.authorize(attempt, card)
                if attempt.operation is ChannelOperation.CAPTURE:
                    return await channel.capture(attempt)
                if attempt.operation is ChannelOperation.VOID:
                    return await channel.void(attempt)
                return await channel.refund(attempt)
        except ChannelNotProcessed as exc:
            return ChannelResult(
                AttemptOutcome.FAILED, failure=Failure("channel_unavailable", str(exc))
            )
        except TimeoutError:
            log.warning("channel %s timed out on %s", attempt.channel, attempt.id)
            return ChannelResult(
                AttemptOutcome.UNKNOWN, failure=Failure("channel_timeout", "No answer in time.")
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("channel %s failed unexpectedly on %s", attempt.channel, attempt.id)
            return ChannelResult(
                AttemptOutcome.UNKNOWN, failure=Failure("channel_error", "Ambiguous channel error.")
            )
