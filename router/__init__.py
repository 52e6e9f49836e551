"""The async routing core: which channel carries a payment, and the calls to it.

``Router`` (``router.router``) is what paycore uses: it decides a payment's route
(the pure decision of ``router.routing``, strategies configured per merchant by
``router.config``, the circuit breakers of ``router.health``), runs a call with a
timeout and turns every way it can end into a ``ChannelResult``.
``router.channel.Channel`` is the transport interface (like an httpx transport);
``router.channels`` holds the implementations.
"""

from router.channel import Channel
from router.router import Router

__all__ = ["Channel", "Router"]
