"""Scenario 6: the merchant's webhook receiver is down for the whole run, then comes up.

Every event committed while it was down is delivered once it is back (the retry
schedule here spans a minute; the real one spans a day), none is lost.
"""

from __future__ import annotations

import pytest

from paycore.v1 import webhook_service_pb2_grpc
from tests.support.polling import eventually
from tests.support.webhooks import Receiver, create_endpoint

from .conftest import Scenario


@pytest.fixture
def paycore_settings() -> dict[str, str]:
    # Attempts every half second for two minutes: the outage ends long before they run out.
    return {"PAYCORE_WEBHOOK_RETRY_SCHEDULE": ",".join(["0.5s"] * 240)}


async def test_every_event_is_delivered_once_the_receiver_is_back(scenario: Scenario) -> None:
    profile = scenario.profile
    receiver = Receiver()
    await receiver.start()  # to learn a port, then off the network for the run
    await receiver.stop()
    webhooks = webhook_service_pb2_grpc.WebhookServiceStub(scenario.channel)
    await create_endpoint(webhooks, scenario.metadata, receiver.url)
    load = scenario.load()
    await load.until_journeys(profile.journeys * profile.rounds)
    journal = await load.stop()
    await scenario.books(journal, "webhook receiver down, then up")
    events = {
        r["id"]
        for r in await scenario.db.fetch(
            "SELECT id FROM events WHERE merchant_id = $1", scenario.merchant_id
        )
    }
    assert not receiver.delivered()

    await receiver.start()
    try:
        await eventually(
            lambda: events <= set(receiver.delivered()), within_s=60, what="every event delivered"
        )
    finally:
        await receiver.stop()

    assert len(events) >= profile.journeys * profile.rounds
    print(f"webhooks: {len(events)} events, {len(receiver.received)} POSTs after the outage")
