"""Webhook signing secrets are stored sealed under the vault keys, and survive key rotation."""

from __future__ import annotations

import base64
import os

import pytest

from core.app import Services
from core.events.relay import WebhookRelay
from core.storage.webhooks import PostgresWebhookStore
from core.vault.envelope import EnvelopeError
from core.vault.keyring import Keyring
from core.vault.secrets import SecretSealer
from paycore.client import verify_webhook_signature

from .helpers import FAST, Receiver, create_endpoint, eventually, pay

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

    # Rotate the vault: a store whose active key is new re-wraps the secret.
    assert services.notifications is not None
    old_keyring = services.vault._keyring
    newer = PostgresWebhookStore(
        services.pool,
        SecretSealer(Keyring({**old_keyring.keys, "k_new": os.urandom(32)}, "k_new")),
    )
    while await newer.reseal_secrets(100):
        pass
    relay = WebhookRelay(newer, FAST)
    await relay.start()
    try:
        await pay(stub, metadata)
        await eventually(lambda: len(receiver.delivered()) >= 2, what="deliveries")
    finally:
        await relay.stop(grace_s=0.5)

    for request in receiver.received:
        verify_webhook_signature(request.body, request.signature, created.secret)
