"""Routing: which channel carries a payment, and the adapters that talk to channels.

``router.channel.Channel`` is the transport interface (like an httpx
transport); ``router.channels`` holds the implementations; ``router.routing``
holds the pure decision of which channel to use; ``router.dispatch.Router``
runs a call with a timeout and turns every way it can end into a
``ChannelResult``.
"""

from router.channel import Channel
from router.dispatch import Router, RoutingError

__all__ = ["Channel", "Router", "RoutingError"]
