"""Webhook signing secrets are stored sealed under the vault keys, and survive key rotation."""

from __future__ import annotations

import base64
import os

import pytest

from core.app import Services
from core.events.relay import WebhookRelay
from core.storage.webhook_deliveries import PostgresWebhookDeliveries
from core.storage.webhook_endpoints import PostgresWebhookEndpoints
from core.vault.envelope import EnvelopeError
from core.vault.keyring import Keyring
from core.vault.secrets import SecretSealer
from paycore.client import verify_webhook_signature
from paycore.v1 import webhook_service_pb2 as wh
from tests.events.helpers import pay
from tests.support.polling import eventually
from tests.support.requests import new_request_id
from tests.support.webhooks import FAST, Receiver, create_endpoint

K1 = "k1:" + base64.b64encode(os.urandom(32)).decode()
K2 = "k2:" + base64.b64encode(os.urandom(32)).decode()


def test_a_sealed_secret_opens_only_for_its_owner_and_rewraps_without_opening() -> None:
    first = SecretSealer(Keyring.from_config([K1], "k1"))
    both = SecretSealer(Keyring.from_config([K1, K2], "k2"))

    stored = first.seal("whsec_abc", "webhook-endpoint/m_1/whe_1")

    assert "whsec_abc" not in stored and stored.startswith("sealed1.")
    assert first.open(stored, "webhook-endpoint/m_1/whe_1") == "whsec_abc"
    with pytest.raises(EnvelopeError):
        first.open(stored, "webhook-endpoint/m_1/whe_2")  # copied to another endpoint
    assert not both.under_active_key(stored)
    moved = both.rewrapped(stored)
    assert both.under_active_key(moved)
    assert (
        SecretSealer(Keyring.from_config([K2], "k2")).open(moved, "webhook-endpoint/m_1/whe_1")
        == "whsec_abc"
    )
    assert first.seal("", "x") == "" and first.open("", "x") == ""


async def test_the_stored_secret_is_sealed_and_deliveries_still_verify_after_rotation(
    stub, webhooks, metadata, receiver: Receiver, services: Services
) -> None:
    created = await create_endpoint(webhooks, metadata, receiver.url)
    stored = await services.pool.fetchval(
        "SELECT secret FROM webhook_endpoints WHERE id = $1", created.endpoint.id
    )
    assert created.secret not in stored and stored.startswith("sealed1.")

    # Rotate the vault: a store whose active key is new re-wraps every secret
    # of the (shared) database; the finally block moves them all back, so the
    # other tests' servers, which know only the old key, can still sign.
    old_keyring = services.vault._keyring
    keys = {**old_keyring.keys, "k_new": os.urandom(32)}
    newer = PostgresWebhookEndpoints(services.pool, SecretSealer(Keyring(keys, "k_new")))
    back = PostgresWebhookEndpoints(
        services.pool, SecretSealer(Keyring(keys, old_keyring.active_id))
    )
    relay = WebhookRelay(PostgresWebhookDeliveries(services.pool, newer), FAST)
    try:
        while await newer.reseal_secrets(100):
            pass
        moved = await services.pool.fetchval(
            "SELECT secret FROM webhook_endpoints WHERE id = $1", created.endpoint.id
        )
        assert moved != stored
        assert SecretSealer(Keyring(keys, "k_new")).under_active_key(moved)
        await relay.start()
        await pay(stub, metadata)
        await eventually(lambda: len(receiver.delivered()) >= 2, what="deliveries")
    finally:
        await relay.stop(grace_s=0.5)
        while await back.reseal_secrets(100):
            pass

    for request in receiver.received:
        verify_webhook_signature(request.body, request.signature, created.secret)


async def test_an_endpoint_whose_secret_does_not_open_holds_up_no_other(
    stub, webhooks, metadata, make_receiver, services: Services
) -> None:
    good, stuck = await make_receiver(), await make_receiver()
    await create_endpoint(webhooks, metadata, good.url)
    broken = await create_endpoint(webhooks, metadata, stuck.url)
    # Its secret sealed under a key this server does not have (a key dropped too early).
    foreign = SecretSealer(Keyring({"k_gone": os.urandom(32)}, "k_gone"))
    assert services.notifications is not None
    relay = WebhookRelay(services.notifications.deliveries, FAST)
    try:
        merchant_id = await services.pool.fetchval(
            "SELECT merchant_id FROM webhook_endpoints WHERE id = $1", broken.endpoint.id
        )
        owner = f"webhook-endpoint/{merchant_id}/{broken.endpoint.id}"
        await services.pool.execute(
            "UPDATE webhook_endpoints SET secret = $2 WHERE id = $1",
            broken.endpoint.id,
            foreign.seal(broken.secret, owner),
        )
        await relay.start()
        await pay(stub, metadata)
        await eventually(lambda: len(good.delivered()) >= 2, what="the other endpoint's events")
        assert stuck.received == []  # never signed with a secret it cannot read
    finally:
        await relay.stop(grace_s=0.5)
        # Deleting works without the secret (nothing left for the next tests' relays).
        await webhooks.DeleteWebhookEndpoint(
            wh.DeleteWebhookEndpointRequest(
                request_id=new_request_id(), endpoint_id=broken.endpoint.id
            ),
            metadata=metadata,
        )
