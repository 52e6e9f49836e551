"""Merchant notifications (issue 7): webhook endpoints and deliveries, event streams, the relay."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from core.config import Settings
from core.events.relay import RelaySettings, WebhookRelay
from core.events.schedule import parse_schedule
from core.events.stream import EventNotifier
from core.redis.request_gate import RedisRequestGate
from core.service.execution import RequestExecutor
from core.service.webhooks import EventStreams, WebhookService
from core.storage.events import PostgresEventStore
from core.storage.webhook_deliveries import PostgresWebhookDeliveries
from core.storage.webhook_endpoints import PostgresWebhookEndpoints
from core.telemetry import Telemetry
from core.vault.keyring import Keyring
from core.vault.secrets import SecretSealer


@dataclass(slots=True)
class Notifications:
    """Merchant notifications (issue 7): endpoints, the event stream, the webhook relay."""

    webhooks: WebhookService
    streams: EventStreams
    notifier: EventNotifier
    endpoints: PostgresWebhookEndpoints
    deliveries: PostgresWebhookDeliveries
    relay_settings: RelaySettings
    telemetry: Telemetry = field(default_factory=Telemetry.disabled)

    def relay(self) -> WebhookRelay:
        """A relay worker for this process (``start()`` it; ``stop()`` it before close)."""
        return WebhookRelay(self.deliveries, self.relay_settings, telemetry=self.telemetry)

    async def close(self) -> None:
        """End the event streams and stop polling for them."""
        await self.notifier.close()


def relay_settings(settings: Settings) -> RelaySettings:
    """The relay worker's settings from the ``webhook_*`` fields."""
    return RelaySettings(
        schedule_s=parse_schedule(settings.webhook_retry_schedule),
        timeout_s=settings.webhook_timeout_s,
        endpoint_concurrency=settings.webhook_endpoint_concurrency,
        max_in_flight=settings.webhook_max_in_flight,
        poll_interval_s=settings.webhook_poll_interval_s,
        allow_private_networks=settings.webhook_allow_private_networks,
    )


def build_notifications(
    settings: Settings,
    *,
    pool: asyncpg.Pool,
    keyring: Keyring,
    executor: RequestExecutor,
    gate: RedisRequestGate,
    telemetry: Telemetry,
) -> Notifications:
    """Webhook endpoints (secrets sealed under the vault's ``keyring``), deliveries, event streams.

    The relay is not started here: the server starts one per process (``Notifications.relay``).
    """
    events = PostgresEventStore(pool)
    endpoints = PostgresWebhookEndpoints(pool, SecretSealer(keyring))
    deliveries = PostgresWebhookDeliveries(pool, endpoints)
    notifier = EventNotifier(events, settings.event_stream_poll_s)
    return Notifications(
        webhooks=WebhookService(
            executor=executor,
            endpoints=endpoints,
            deliveries=deliveries,
            events=events,
            gate=gate,
            default_overlap=timedelta(seconds=settings.webhook_secret_overlap_s),
            require_https=settings.webhook_require_https,
        ),
        streams=EventStreams(events=events, notifier=notifier, gate=gate),
        notifier=notifier,
        endpoints=endpoints,
        deliveries=deliveries,
        relay_settings=relay_settings(settings),
        telemetry=telemetry,
    )
