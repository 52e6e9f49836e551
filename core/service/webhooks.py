"""Webhook endpoint management, delivery queries, redelivery and the event stream.

Mutations (create, update, delete, rotate, redeliver) are plans run by the
request engine (core/service/execution.py), like payments: once per
request_id, their reply stored with the change. Everything is scoped to the
caller's merchant: another merchant's endpoint or event is NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

from core.domain import ids
from core.domain.errors import (
    FieldViolation,
    NotFoundError,
    PaycoreError,
    Reason,
    ValidationError,
)
from core.domain.notifications import Delivery, StoredEvent, WebhookEndpoint
from core.gate import RequestGate, RpcClass
from core.ports.repository import PaymentTransaction, RequestKey
from core.ports.webhooks import DeliveryQuery, EventStore, WebhookDeliveries, WebhookEndpoints
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity

ENDPOINT_ID_PREFIX = "whe"
SECRET_PREFIX = "whsec_"
MAX_ENDPOINTS = 20
"""Endpoints per merchant; more is almost always a leak of test endpoints."""
STREAM_BATCH = 100
"""Events read per query while a stream catches up."""


@dataclass(frozen=True, slots=True)
class CreateEndpoint:
    """CreateWebhookEndpoint, validated."""

    merchant_id: str
    url: str
    description: str
    event_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpdateEndpoint:
    """UpdateWebhookEndpoint, validated: None leaves a field as it is."""

    merchant_id: str
    endpoint_id: str
    url: str | None = None
    description: str | None = None
    event_types: tuple[str, ...] | None = None
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class RotateSecret:
    """RotateWebhookSecret, validated."""

    merchant_id: str
    endpoint_id: str
    overlap: timedelta | None
    """None: the configured default."""


@dataclass(frozen=True, slots=True)
class EndpointWithSecret:
    """An endpoint and its (new) secret: the one time a secret is shown."""

    endpoint: WebhookEndpoint
    secret: str


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, URL-safe base64, ``whsec_`` prefixed."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class WebhookService:
    """Endpoints, deliveries and redelivery for one merchant at a time."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        endpoints: WebhookEndpoints,
        deliveries: WebhookDeliveries,
        events: EventStore,
        gate: RequestGate,
        default_overlap: timedelta,
        require_https: bool = True,
    ) -> None:
        self._executor = executor
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._events = events
        self._gate = gate
        self._default_overlap = default_overlap
        self._require_https = require_https

    def _check_scheme(self, url: str | None) -> None:
        # Event payloads describe payments: not over plaintext in production.
        if url is not None and self._require_https and urlsplit(url).scheme != "https":
            raise ValidationError(
                [FieldViolation("url", "must be an https:// URL (webhook_require_https)")]
            )

    # --- reads ----------------------------------------------------------------

    async def get_endpoint(self, merchant_id: str, endpoint_id: str) -> WebhookEndpoint:
        """One endpoint; NOT_FOUND for unknown, deleted and other merchants' endpoints."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        endpoint = await self._endpoints.get_endpoint(merchant_id, endpoint_id)
        if endpoint is None:
            raise NotFoundError(Reason.WEBHOOK_ENDPOINT_NOT_FOUND, endpoint_id=endpoint_id)
        return endpoint

    async def list_endpoints(self, merchant_id: str) -> list[WebhookEndpoint]:
        """The merchant's endpoints, oldest first."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        return await self._endpoints.list_endpoints(merchant_id)

    async def list_deliveries(self, query: DeliveryQuery) -> tuple[list[Delivery], bool]:
        """A page of deliveries, newest first, and whether more follow."""
        await self._gate.admit(query.merchant_id, RpcClass.READS, None)
        rows = await self._deliveries.list_deliveries(
            dataclasses.replace(query, page_size=query.page_size + 1)
        )
        return rows[: query.page_size], len(rows) > query.page_size

    # --- writes ---------------------------------------------------------------

    async def create_endpoint(
        self,
        command: CreateEndpoint,
        request: RequestIdentity,
        encoder: Encoder[EndpointWithSecret],
    ) -> tuple[Reply, str | None]:
        """Register an endpoint with a fresh secret (at most MAX_ENDPOINTS per merchant).

        Returns the reply and, only when this call created the endpoint, its
        secret: the encoder must leave the secret out of the stored reply, so
        that a replay of the request_id never shows it again.
        """
        self._check_scheme(command.url)
        endpoint_id = ids.new_id(ENDPOINT_ID_PREFIX)
        secret = new_secret()

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[EndpointWithSecret]:
            if await self._endpoints.count_endpoints(tx, command.merchant_id) >= MAX_ENDPOINTS:
                raise PaycoreError(Reason.WEBHOOK_ENDPOINT_LIMIT_REACHED, limit=MAX_ENDPOINTS)
            endpoint = WebhookEndpoint(
                id=endpoint_id,
                merchant_id=command.merchant_id,
                url=command.url,
                description=command.description,
                event_types=command.event_types,
                enabled=True,
                secret=secret,
                previous_secret="",
                previous_until=None,
                created_at=at,
                updated_at=at,
            )
            await self._endpoints.save_endpoint(tx, endpoint)
            executed.append(True)
            return Plan(endpoint_id, result=EndpointWithSecret(endpoint, secret))

        executed: list[bool] = []
        key = RequestKey(command.merchant_id, "CreateWebhookEndpoint", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        return reply, secret if executed and reply.ok else None

    async def update_endpoint(
        self, command: UpdateEndpoint, request: RequestIdentity, encoder: Encoder[WebhookEndpoint]
    ) -> Reply:
        """Change url, description, event types or enabled."""
        self._check_scheme(command.url)

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[WebhookEndpoint]:
            endpoint = await self._locked(tx, command.merchant_id, command.endpoint_id)
            changes: dict[str, object] = {"updated_at": at}
            for name in ("url", "description", "event_types", "enabled"):
                value = getattr(command, name)
                if value is not None:
                    changes[name] = value
            updated = dataclasses.replace(endpoint, **changes)  # type: ignore[arg-type]
            await self._endpoints.save_endpoint(tx, updated)
            return Plan(endpoint.id, result=updated)

        key = RequestKey(command.merchant_id, "UpdateWebhookEndpoint", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def delete_endpoint(
        self,
        merchant_id: str,
        endpoint_id: str,
        request: RequestIdentity,
        encoder: Encoder[WebhookEndpoint],
    ) -> Reply:
        """Delete an endpoint; its pending deliveries end (dead, "endpoint deleted")."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[WebhookEndpoint]:
            endpoint = await self._locked(tx, merchant_id, endpoint_id)
            await self._endpoints.delete_endpoint(tx, merchant_id, endpoint_id, at)
            return Plan(endpoint.id, result=endpoint)

        key = RequestKey(merchant_id, "DeleteWebhookEndpoint", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def rotate_secret(
        self, command: RotateSecret, request: RequestIdentity, encoder: Encoder[EndpointWithSecret]
    ) -> tuple[Reply, str | None]:
        """A new secret; the current one keeps signing too until the overlap ends.

        Like ``create_endpoint``: the new secret is returned only by the call
        that made it, never from the stored reply.
        """
        secret = new_secret()
        overlap = self._default_overlap if command.overlap is None else command.overlap

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[EndpointWithSecret]:
            endpoint = await self._locked(tx, command.merchant_id, command.endpoint_id)
            rotated = dataclasses.replace(
                endpoint,
                secret=secret,
                previous_secret=endpoint.secret if overlap > timedelta(0) else "",
                previous_until=at + overlap if overlap > timedelta(0) else None,
                updated_at=at,
            )
            await self._endpoints.save_endpoint(tx, rotated)
            executed.append(True)
            return Plan(endpoint.id, result=EndpointWithSecret(rotated, secret))

        executed: list[bool] = []
        key = RequestKey(command.merchant_id, "RotateWebhookSecret", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        return reply, secret if executed and reply.ok else None

    async def redeliver_event(
        self,
        merchant_id: str,
        event_id: str,
        endpoint_id: str,
        request: RequestIdentity,
        encoder: Encoder[list[Delivery]],
    ) -> Reply:
        """Schedule the event again to endpoints where its delivery is dead or finished."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[list[Delivery]]:
            event = await self._events.get_event(merchant_id, event_id, tx)
            if event is None:
                raise NotFoundError(Reason.EVENT_NOT_FOUND, event_id=event_id)
            if endpoint_id:
                await self._locked(tx, merchant_id, endpoint_id)
            again = await self._deliveries.redeliver(tx, merchant_id, event.sequence, endpoint_id)
            if not again:
                raise PaycoreError(
                    Reason.NOTHING_TO_REDELIVER,
                    event_id=event_id,
                    to_endpoint=f" to {endpoint_id}" if endpoint_id else "",
                )
            return Plan(event_id, result=again)

        key = RequestKey(merchant_id, "RedeliverEvent", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def _locked(
        self, tx: PaymentTransaction, merchant_id: str, endpoint_id: str
    ) -> WebhookEndpoint:
        endpoint = await self._endpoints.lock_endpoint(tx, merchant_id, endpoint_id)
        if endpoint is None:
            raise NotFoundError(Reason.WEBHOOK_ENDPOINT_NOT_FOUND, endpoint_id=endpoint_id)
        return endpoint


class EventWakeups(Protocol):
    """Wakes streams when a merchant's events may have moved (``core.events.stream``)."""

    @property
    def closed(self) -> bool:
        """True once streams should end (their callers reconnect)."""
        ...

    def subscribe(self, merchant_id: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """An Event set when the merchant's events may have moved (clear it before each read)."""
        ...


class EventStreams:
    """EventService.StreamEvents: the backlog after a cursor, then live events."""

    def __init__(self, *, events: EventStore, notifier: EventWakeups, gate: RequestGate) -> None:
        self._events = events
        self._notifier = notifier
        self._gate = gate

    async def stream(
        self, merchant_id: str, after_sequence: int, types: Sequence[str]
    ) -> AsyncIterator[StoredEvent]:
        """Events with sequence > ``after_sequence``, oldest first, until the caller stops.

        Complete and in order because sequences commit in order without gaps
        (core/storage/events.py): once this has read up to n, nothing below n
        can appear later. So resuming with the last sequence received repeats
        nothing and loses nothing.
        """
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        cursor = after_sequence
        async with self._notifier.subscribe(merchant_id) as woken:
            while not self._notifier.closed:
                # Clear before reading: a commit that lands after this read sets
                # it again, so the wait below cannot miss it.
                woken.clear()
                batch = await self._events.events_after(merchant_id, cursor, types, STREAM_BATCH)
                for event in batch:
                    yield event
                    cursor = event.sequence
                if len(batch) < STREAM_BATCH:
                    await woken.wait()
