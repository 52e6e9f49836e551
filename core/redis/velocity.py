"""Velocity counters in Redis: read and updated in ONE round trip (one Lua script, EVALSHA).

Per merchant and entity (customer, email, IP, device, card fingerprint) a
sorted set holds the merchant's recent transactions as ``<id>:<amount>``
scored by time (ms): ``paycore:{<merchant>}:risk:v:<entity>:<digest>``.
The script trims what is older than 24 h, counts and sums the 1 min, 1 h
and 24 h windows, and (unless it is a dry run) adds the transaction, all
atomically, so two concurrent payments of one card each see the other or
not, never half of it. Each set is capped at ``MAX_EVENTS`` members (the
oldest are dropped): counts saturate there, far above any rule threshold,
and a flood cannot grow a key without bound.

Declines per card and device (card testing) are sorted sets too, written
after the outcome by ``record_decline`` (off the reply path), and read by
the same script; so are chargebacks lost per card, customer and email
(``record_lost_dispute``, a dispute id per member, kept a year). A
customer's all-time history (count and sum of amounts, kept 90 days after
the last payment) answers "first seen?" and "how does
this amount compare?". The merchant's list version (``risk:lv``), bumped on
every block/allow list change, comes back in the same reply so every
paycore process notices a list change on its next payment.

Every key carries the hash tag ``{<merchant>}``, so on a Redis Cluster they
all live in the merchant's slot and one script may touch them together.
Entity values are hashed (SHA-256, truncated): emails and IPs never sit in
Redis in clear.

On the request path the script does not cost a round trip of its own: a
new payment's velocity is a ``Rider`` of the request gate's script
(``RedisVelocity.rider``), run in the same EVALSHA right after the gate
admitted the request as NEW. Only when that could not be (a card token, whose
fingerprint is known after the request_id is claimed) is it run on its own.

Like the request gate, velocity FAILS OPEN: when Redis cannot answer, the
transaction is scored with zero velocity and the feature
``velocity_unavailable`` set (rules may act on it). Whether Redis is worth
asking is the gate's ``RedisAvailability`` (one view of one Redis, shared in
core/app/_risk.py). A payment is never refused because Redis is away.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from core.ports.risk import CountingRider
from core.redis.autopipeline import AutoPipeline
from core.redis.request_gate import REDIS_UNAVAILABLE, RedisAvailability, RedisClient
from core.redis.velocity_scripts import EVENT_SCRIPT, VELOCITY_FUNCTION, VELOCITY_SCRIPT
from riskengine import (
    DECLINE_ENTITIES,
    DECLINE_WINDOWS,
    LOST_DISPUTE_DAYS,
    LOST_DISPUTE_ENTITIES,
    UNAVAILABLE,
    WINDOWS,
    Transaction,
    Velocity,
    VelocityRead,
)

log = logging.getLogger(__name__)

MAX_EVENTS = 1000
"""Members kept per velocity set (the most recent)."""
HISTORY_TTL_MS = 90 * 86_400_000
DECLINE_WINDOW_MS = 86_400_000
LOST_DISPUTE_WINDOW_MS = LOST_DISPUTE_DAYS * 86_400_000


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


def velocity_key(merchant_id: str, entity: str, value: str) -> str:
    """The sorted set of one entity's recent transactions."""
    return f"paycore:{{{merchant_id}}}:risk:v:{entity}:{_digest(value)}"


def decline_key(merchant_id: str, entity: str, value: str) -> str:
    """The sorted set of one card's or device's recent declines."""
    return f"paycore:{{{merchant_id}}}:risk:d:{entity}:{_digest(value)}"


def lost_dispute_key(merchant_id: str, entity: str, value: str) -> str:
    """The sorted set of the disputes lost on one card, customer or email (by dispute id)."""
    return f"paycore:{{{merchant_id}}}:risk:l:{entity}:{_digest(value)}"


def history_key(merchant_id: str, customer_id: str) -> str:
    """A customer's payment count and amount sum."""
    return f"paycore:{{{merchant_id}}}:risk:h:{_digest(customer_id)}"


def list_version_key(merchant_id: str) -> str:
    """Bumped on every change of the merchant's block/allow lists."""
    return f"paycore:{{{merchant_id}}}:risk:lv"


@dataclass(slots=True)
class VelocityStats:
    """Counters for operators and tests."""

    round_trips: int = 0
    failures: int = 0
    fail_open: int = 0


@dataclass(frozen=True, slots=True)
class _Layout:
    """Which counters a script reply holds, in order."""

    names: tuple[str, ...]
    declines: tuple[str, ...]
    lost: tuple[str, ...]
    has_history: bool

    def decode(self, reply: list[int]) -> VelocityRead:
        counters: dict[str, int] = {}
        position = 0
        for name in self.names:
            for window in WINDOWS:
                counters[f"{name}_count_{window}"] = reply[position]
                counters[f"{name}_sum_{window}"] = reply[position + 1]
                position += 2
        for name in self.declines:
            for window in DECLINE_WINDOWS:
                counters[f"{name}_declines_{window}"] = reply[position]
                position += 1
        for name in self.lost:
            counters[f"{name}_lost_disputes"] = reply[position]
            position += 1
        count = total = 0
        if self.has_history:
            count, total = reply[position], reply[position + 1]
            position += 2
        velocity = Velocity(counters, customer_tx_count=count, customer_amount_sum=total)
        return VelocityRead(velocity, reply[position])


class VelocityRider(CountingRider):
    """A payment's velocity read-and-count, riding in the request gate's round trip."""

    __slots__ = ("_layout",)

    def __init__(self, keys: list[str], args: list[str | int], layout: _Layout) -> None:
        super().__init__(VELOCITY_FUNCTION, keys, args)
        self._layout = layout

    def read(self) -> VelocityRead | None:
        """The counters, when the gate ran the script (None: score it the usual way)."""
        return None if self.reply is None else self._layout.decode(self.reply)


def _script_input(
    transaction: Transaction, member: str, *, write: bool, now_ms: int | None
) -> tuple[list[str], list[str | int], _Layout]:
    """The script's keys and arguments for ``transaction``, and how to read its reply."""
    merchant = transaction.merchant_id
    entities = transaction.entity_values()
    names = list(entities)
    keys = [velocity_key(merchant, name, entities[name]) for name in names]
    declines = [name for name in DECLINE_ENTITIES if name in entities]
    keys += [decline_key(merchant, name, entities[name]) for name in declines]
    lost = [name for name in LOST_DISPUTE_ENTITIES if name in entities]
    keys += [lost_dispute_key(merchant, name, entities[name]) for name in lost]
    has_history = "customer" in entities
    if has_history:
        keys.append(history_key(merchant, entities["customer"]))
    keys.append(list_version_key(merchant))
    args: list[str | int] = [
        "1" if write else "0",
        transaction.amount.amount,
        member,
        len(names),
        len(declines),
        "1" if has_history else "0",
        "" if now_ms is None else now_ms,
        MAX_EVENTS,
        HISTORY_TTL_MS,
        len(lost),
        LOST_DISPUTE_WINDOW_MS,
    ]
    return keys, args, _Layout(tuple(names), tuple(declines), tuple(lost), has_history)


class RedisVelocity:
    """Velocity counters on Redis (single server or Cluster), failing open."""

    lua = VELOCITY_FUNCTION
    """What a rider of this kind runs (for ``RedisRequestGate.prepare``)."""

    def __init__(
        self,
        client: RedisClient,
        *,
        retry_interval_s: float,
        log_interval_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        availability: RedisAvailability | None = None,
        pipeline: AutoPipeline | None = None,
    ) -> None:
        """``availability`` and ``pipeline``: the gate's, to share one view of Redis and its
        batches (core/app/_risk.py); by default this instance's own."""
        self._client = client
        self._pipeline = pipeline or AutoPipeline(client)
        self._script = client.register_script(VELOCITY_SCRIPT)
        self._event_script = client.register_script(EVENT_SCRIPT)
        self._availability = availability or RedisAvailability(
            retry_interval_s=retry_interval_s, log_interval_s=log_interval_s, monotonic=monotonic
        )
        self.stats = VelocityStats()

    async def prepare(self) -> None:
        """Load the scripts now, so the first payment costs one round trip like the rest."""
        try:
            await self._client.script_load(VELOCITY_SCRIPT)
            await self._client.script_load(EVENT_SCRIPT)
        except REDIS_UNAVAILABLE as exc:
            self._note_failure(exc)

    def rider(self, transaction: Transaction, member: str) -> VelocityRider:
        """The read-and-count of a new payment, to ride in the request gate's round trip."""
        keys, args, layout = _script_input(transaction, member, write=True, now_ms=None)
        return VelocityRider(keys, args, layout)

    async def read_and_count(
        self, transaction: Transaction, member: str, *, write: bool, now_ms: int | None = None
    ) -> VelocityRead:
        """Counters before ``transaction``, adding it (``write``) in the same round trip.

        ``member`` identifies the transaction (its payment id); ``now_ms``
        replaces Redis' clock (replaying a recorded stream; None in service).
        """
        if self._availability.away():
            self.stats.fail_open += 1
            return VelocityRead(UNAVAILABLE, None)
        keys, args, layout = _script_input(transaction, member, write=write, now_ms=now_ms)
        try:
            self.stats.round_trips += 1
            reply = [int(v) for v in await self._pipeline.run_script(self._script, keys, args)]
        except REDIS_UNAVAILABLE as exc:
            self._note_failure(exc)
            self.stats.fail_open += 1
            return VelocityRead(UNAVAILABLE, None)
        return layout.decode(reply)

    async def record_decline(
        self, transaction: Transaction, member: str, *, now_ms: int | None = None
    ) -> None:
        """Count a declined transaction against its card and device (card testing)."""
        await self._record_event(
            transaction, member, DECLINE_ENTITIES, decline_key, DECLINE_WINDOW_MS, now_ms
        )

    async def record_lost_dispute(
        self, transaction: Transaction, dispute_id: str, *, now_ms: int | None = None
    ) -> None:
        """Count a chargeback lost on ``transaction`` against its card, customer and email.

        Best effort, like declines: when Redis is away the loss is not counted
        (the dispute and its ``dispute.closed`` event are committed regardless).
        """
        await self._record_event(
            transaction,
            dispute_id,
            LOST_DISPUTE_ENTITIES,
            lost_dispute_key,
            LOST_DISPUTE_WINDOW_MS,
            now_ms,
        )

    async def _record_event(  # noqa: PLR0917
        self,
        transaction: Transaction,
        member: str,
        entity_names: tuple[str, ...],
        key_of: Callable[[str, str, str], str],
        window_ms: int,
        now_ms: int | None,
    ) -> None:
        """Add ``member`` to the sets ``key_of`` names for the transaction's ``entity_names``,
        each kept ``window_ms``."""
        if self._availability.away():
            return
        entities = transaction.entity_values()
        keys = [
            key_of(transaction.merchant_id, name, entities[name])
            for name in entity_names
            if name in entities
        ]
        if not keys:
            return
        try:
            await self._pipeline.run_script(
                self._event_script,
                keys,
                ["" if now_ms is None else now_ms, member, MAX_EVENTS, window_ms],
            )
        except REDIS_UNAVAILABLE as exc:
            self._note_failure(exc)

    async def bump_list_version(self, merchant_id: str) -> None:
        """Tell every process that the merchant's lists changed (best effort)."""
        try:
            await self._pipeline.execute("INCR", list_version_key(merchant_id))
        except REDIS_UNAVAILABLE as exc:
            self._note_failure(exc)

    def _note_failure(self, exc: BaseException) -> None:
        self.stats.failures += 1
        self._availability.note_failure(exc)
