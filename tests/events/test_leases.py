"""Relay leases: a crashed worker's delivery is sent by another; a stale worker changes nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from core.app import Services
from core.storage.webhook_deliveries import AttemptOutcome
from paycore.v1 import webhook_service_pb2 as wh
from tests.events.helpers import pay
from tests.support.polling import eventually
from tests.support.webhooks import FAST, Receiver, create_endpoint


async def test_a_delivery_leased_by_a_worker_that_died_is_sent_after_its_lease_expires(
    *, stub, webhooks, metadata, services: Services, receiver: Receiver, start_relay
) -> None:
    assert services.notifications is not None
    store = services.notifications.deliveries
    endpoint = await create_endpoint(webhooks, metadata, receiver.url, ["payment.succeeded"])
    await pay(stub, metadata)

    # A worker leases everything due and dies before POSTing or reporting.
    async def leased_mine() -> list:
        return [
            d
            for d in await store.lease_due(capacity=1000, endpoint_limit=100, lease_s=0.3)
            if d.endpoint.id == endpoint.endpoint.id
        ]

    (crashed,) = await eventually(leased_mine, what="the delivery leased")
    await start_relay(dataclasses.replace(FAST, schedule_s=(0.05,)))

    await eventually(lambda: receiver.delivered() == [crashed.event.id], what="sent by another")

    async def recorded_succeeded() -> list[wh.WebhookDelivery]:
        # The receiver sees the POST just before the relay commits its outcome.
        response = await webhooks.ListWebhookDeliveries(
            wh.ListWebhookDeliveriesRequest(endpoint_id=endpoint.endpoint.id), metadata=metadata
        )
        done = [d for d in response.deliveries if d.state == d.STATE_SUCCEEDED]
        return list(response.deliveries) if done else []

    await eventually(recorded_succeeded, what="the POST's outcome recorded")
    # The dead worker wakes up and reports: its lease is gone, nothing changes.
    late = AttemptOutcome(status_code=500, latency_ms=1, error="HTTP 500")
    assert not await store.record_attempt(crashed, datetime.now(UTC), late, retry_in_s=None)
    response = await webhooks.ListWebhookDeliveries(
        wh.ListWebhookDeliveriesRequest(endpoint_id=endpoint.endpoint.id), metadata=metadata
    )
    (delivery,) = response.deliveries
    assert delivery.state == delivery.STATE_SUCCEEDED
    # Both attempts are on record: the one the crashed worker may have made, and the POST.
    assert [a.status_code for a in delivery.attempts] == [500, 200]
