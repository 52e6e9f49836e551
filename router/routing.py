"""The routing decision, as a pure function of the payment and the channels' capabilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Capable(Protocol):
    """What routing needs to know of a channel."""

    name: str

    def supports(self, currency: str, brand: str) -> bool:
        """Whether the channel can carry this currency and card brand."""
        ...


def choose_channel(channels: Sequence[Capable], currency: str, brand: str) -> str | None:
    """The name of the first channel, in configured priority order, that supports the payment."""
    for channel in channels:
        if channel.supports(currency, brand):
            return channel.name
    return None
