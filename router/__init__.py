"""Routing: which channel carries a payment, and the adapters that talk to channels.

``router.channel.Channel`` is the transport interface (like an httpx
transport); ``router.channels`` holds the implementations; ``router.routing``
holds the pure decision of which channels to use and in which order
(strategies configured per merchant by ``router.config``);
``router.health`` the circuit breaker; ``router.dispatch.Router`` runs a
call with a timeout and turns every way it can end into a ``ChannelResult``.
"""

from router.channel import Channel
from router.dispatch import Router

__all__ = ["Channel", "Router"]
