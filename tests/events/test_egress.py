"""Where webhooks may go: public https endpoints only, unless the operator allows more.

The suite's server allows http:// and 127.0.0.1 (its receivers run there);
these tests check the production defaults on services and relays of their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

import pytest

from core.app import Services
from core.events.egress import BlockedAddressError, PublicOnlyResolver, is_public
from core.events.relay import WebhookRelay
from core.service.execution import Encoder, RequestIdentity
from core.service.webhooks import CreateEndpoint, WebhookService
from tests.events.helpers import pay
from tests.support.polling import eventually
from tests.support.requests import new_request_id
from tests.support.webhooks import FAST, Receiver, create_endpoint


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata service
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),  # IPv4-mapped private
        ("224.0.0.1", False),
        ("not an address", False),
    ],
)
def test_only_public_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


async def test_a_name_that_resolves_only_to_loopback_is_blocked() -> None:
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(BlockedAddressError):
            await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()


async def test_an_http_url_is_refused_when_https_is_required(
    services: Services, merchant_id: str
) -> None:
    assert services.notifications is not None
    live = services.notifications.webhooks
    strict = WebhookService(
        executor=live._executor,
        endpoints=live._endpoints,
        deliveries=live._deliveries,
        events=live._events,
        gate=live._gate,
        default_overlap=timedelta(hours=1),
        require_https=True,
    )
    encoder: Encoder[object] = Encoder(success=lambda _: b"ok", failure=lambda e: b"no")

    with pytest.raises(Exception) as refused:
        await strict.create_endpoint(
            CreateEndpoint(merchant_id, "http://shop.example/hooks", "", ()),
            RequestIdentity(new_request_id(), b"f"),
            encoder,  # type: ignore[arg-type]
        )

    assert [v.field for v in refused.value.violations] == ["url"]  # type: ignore[attr-defined]
    assert await live.list_endpoints(merchant_id) == []


async def test_the_relay_refuses_to_post_to_a_private_address_by_default(
    stub, webhooks, metadata, receiver: Receiver, services: Services
) -> None:
    endpoint = await create_endpoint(webhooks, metadata, receiver.url)  # http://127.0.0.1:...
    assert services.notifications is not None
    guarded = WebhookRelay(
        services.notifications.deliveries, dataclasses.replace(FAST, allow_private_networks=False)
    )
    await guarded.start()
    try:
        # Bounded: this relay leases every due delivery of the shared database,
        # so it must never outlive the test (it would refuse other tests' posts).
        async with asyncio.timeout(60):
            await pay(stub, metadata)
            attempts = await eventually(
                lambda: _attempt_errors(services, endpoint.endpoint.id), what="a refused attempt"
            )
    finally:
        await guarded.stop(grace_s=0.5)

    assert receiver.received == []
    assert any("not a public address" in error for error in attempts)


async def _attempt_errors(services: Services, endpoint_id: str) -> list[str]:
    rows = await services.pool.fetch(
        "SELECT a.error FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id"
        " WHERE d.endpoint_id = $1 AND a.error <> ''",
        endpoint_id,
    )
    return [row["error"] for row in rows]
