"""API key revocations broadcast to every paycore process over Redis pub/sub.

Each process trusts a key it verified for ``auth.key_cache_s``. When a key is
revoked or rotated, the process that did it publishes the key's prefix on
``CHANNEL`` after the change committed; every process (itself included)
listens there and drops the key from its cache, so the change takes effect
everywhere within a Redis round trip instead of ``key_cache_s``.

Pub/sub delivers only to connected subscribers, so a process whose
subscription was down (a Redis restart, a network cut) may have missed
revocations. It then falls back to the cache age (nothing is trusted longer
than ``key_cache_s``) until it is subscribed again, and at every
(re)subscription it drops its whole cache: a key is read again from
PostgreSQL on its next use. A subscription that stops answering pings is
treated as lost too, so a silently dead connection cannot keep a process
deaf.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from redis.asyncio.client import PubSub

from core.redis.request_gate import REDIS_UNAVAILABLE, RedisAvailability, RedisClient

log = logging.getLogger(__name__)

CHANNEL = "paycore:auth:key-changes"


class KeyCache(Protocol):
    """What a revocation changes in a process: its cache of verified keys (the Authenticator)."""

    def forget(self, prefix: str) -> None:
        """Drop one key."""
        ...

    def forget_all(self) -> None:
        """Drop every key."""
        ...


class SubscriptionLostError(Exception):
    """The subscription's connection stopped answering pings."""


class RedisKeyRevocations:
    """Publishes key changes and applies those of every process to this one's cache."""

    def __init__(
        self,
        client: RedisClient,
        availability: RedisAvailability,
        *,
        retry_interval_s: float,
        ping_interval_s: float = 5.0,
    ) -> None:
        self._client = client
        self._availability = availability
        self._retry_interval_s = max(0.1, retry_interval_s)
        self._ping_interval_s = ping_interval_s
        self._lost = False

    async def publish(self, prefix: str) -> None:
        """Tell every process to drop ``prefix`` (after the change committed).

        Never raises: with Redis away, other processes trust the key for at
        most ``key_cache_s`` more (and drop everything once they resubscribe).
        Tried even while the gate stays away from Redis: a revocation is rare,
        and the other processes' subscriptions may well be fine.
        """
        try:
            await self._client.publish(CHANNEL, prefix)
        except REDIS_UNAVAILABLE as exc:
            self._availability.note_failure(exc)

    async def listen(self, cache: KeyCache) -> None:
        """Apply every published key change to ``cache``, resubscribing after losses (forever)."""
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                await self._apply(pubsub, cache)
            except (*REDIS_UNAVAILABLE, SubscriptionLostError) as exc:
                if not self._lost:
                    log.warning(
                        "key revocations from other processes are not heard (%s: %s): cached"
                        " keys are trusted for at most auth.key_cache_s until resubscribed",
                        type(exc).__name__,
                        exc,
                    )
                self._lost = True
            except Exception:
                # Never let the listener die quietly: the process would be deaf
                # to revocations for good. Log it and start over.
                log.exception("the key revocation listener failed; subscribing again")
                self._lost = True
            finally:
                # Closing a broken connection may itself fail; the next round starts afresh.
                with contextlib.suppress(*REDIS_UNAVAILABLE):
                    await pubsub.aclose()
            await asyncio.sleep(self._retry_interval_s)

    async def _apply(self, pubsub: PubSub, cache: KeyCache) -> None:
        unanswered = 0
        while True:
            message = await pubsub.get_message(timeout=self._ping_interval_s)
            if message is None:
                # Quiet for a ping interval: ask, and give up on a connection
                # that left the previous ping unanswered (half-open).
                if unanswered:
                    raise SubscriptionLostError("no answer to a ping")
                await pubsub.ping()
                unanswered = 1
                continue
            unanswered = 0
            kind = message["type"]
            if kind == "subscribe":
                # Subscribed, for the first time or again after redis-py
                # reconnected by itself: whatever was published before now
                # may have been missed, so nothing cached is trusted.
                cache.forget_all()
                if self._lost:
                    log.info("key revocations are heard again; cached keys were dropped")
                    self._lost = False
            elif kind == "message":
                data = message["data"]
                cache.forget(data.decode() if isinstance(data, bytes) else str(data))
