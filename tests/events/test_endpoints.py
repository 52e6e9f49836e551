"""WebhookService endpoint management: secrets shown once, validation, idempotency, isolation."""

from __future__ import annotations

import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from paycore.v1 import webhook_service_pb2 as wh
from tests.events.helpers import pay
from tests.support.expect import (
    FAILED_PRECONDITION,
    INVALID_ARGUMENT,
    NOT_FOUND,
    assert_invalid,
    expect_error,
)
from tests.support.polling import eventually
from tests.support.requests import new_request_id
from tests.support.webhooks import create_endpoint

URL = "https://merchant.example/hooks"


async def test_the_secret_is_shown_at_creation_and_never_again(webhooks, metadata) -> None:
    created = await create_endpoint(webhooks, metadata, URL, ["payment.succeeded"])

    assert created.secret.startswith("whsec_") and len(created.secret) > 40
    got = await webhooks.GetWebhookEndpoint(
        wh.GetWebhookEndpointRequest(endpoint_id=created.endpoint.id), metadata=metadata
    )
    listed = await webhooks.ListWebhookEndpoints(
        wh.ListWebhookEndpointsRequest(), metadata=metadata
    )
    assert got.endpoint == created.endpoint
    assert list(listed.endpoints) == [created.endpoint]
    for message in (got, listed):
        assert created.secret.encode() not in message.SerializeToString()
    assert list(created.endpoint.event_types) == ["payment.succeeded"]
    assert created.endpoint.enabled


async def test_update_changes_only_the_masked_fields_and_delete_removes(webhooks, metadata) -> None:
    created = await create_endpoint(webhooks, metadata, URL)
    endpoint_id = created.endpoint.id

    updated = await webhooks.UpdateWebhookEndpoint(
        wh.UpdateWebhookEndpointRequest(
            request_id=new_request_id(),
            endpoint_id=endpoint_id,
            url="https://merchant.example/v2",
            description="ignored: not in the mask",
            update_mask=FieldMask(paths=["url"]),
        ),
        metadata=metadata,
    )
    assert updated.endpoint.url == "https://merchant.example/v2"
    assert updated.endpoint.description == ""

    await webhooks.DeleteWebhookEndpoint(
        wh.DeleteWebhookEndpointRequest(request_id=new_request_id(), endpoint_id=endpoint_id),
        metadata=metadata,
    )
    await expect_error(
        webhooks.GetWebhookEndpoint(
            wh.GetWebhookEndpointRequest(endpoint_id=endpoint_id), metadata=metadata
        ),
        NOT_FOUND,
        "WEBHOOK_ENDPOINT_NOT_FOUND",
    )
    listed = await webhooks.ListWebhookEndpoints(
        wh.ListWebhookEndpointsRequest(), metadata=metadata
    )
    assert list(listed.endpoints) == []


async def test_create_is_idempotent_by_request_id(webhooks, metadata, services) -> None:
    db = services.pool
    request = wh.CreateWebhookEndpointRequest(request_id=new_request_id(), url=URL)
    first = await webhooks.CreateWebhookEndpoint(request, metadata=metadata)
    again = await webhooks.CreateWebhookEndpoint(request, metadata=metadata)

    # The same endpoint, not a second one; its secret is shown by the first call only
    # (stored replies never hold it).
    assert again.endpoint == first.endpoint
    assert first.secret.startswith("whsec_") and again.secret == ""
    stored = await db.fetchval(
        "SELECT string_agg(encode(reply, 'escape'), '') FROM idempotency_keys"
        " WHERE request_id = $1",
        request.request_id,
    )
    assert first.secret not in stored
    listed = await webhooks.ListWebhookEndpoints(
        wh.ListWebhookEndpointsRequest(), metadata=metadata
    )
    assert len(listed.endpoints) == 1
    request.url = "https://merchant.example/other"
    await expect_error(
        webhooks.CreateWebhookEndpoint(request, metadata=metadata),
        INVALID_ARGUMENT,
        "IDEMPOTENCY_KEY_REUSED",
    )


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"url": ""}, ["url"]),
        ({"url": "ftp://merchant.example/x"}, ["url"]),
        ({"url": "https://"}, ["url"]),
        ({"url": URL, "event_types": ["payment.exploded"]}, ["event_types"]),
        ({"url": URL, "request_id": ""}, ["request_id"]),
        ({"url": URL, "description": "x" * 501}, ["description"]),
    ],
)
async def test_invalid_create_requests_name_their_fields(
    webhooks, metadata, fields: dict, bad: list[str]
) -> None:
    request = wh.CreateWebhookEndpointRequest(**{"request_id": new_request_id(), **fields})
    error = await expect_error(
        webhooks.CreateWebhookEndpoint(request, metadata=metadata),
        INVALID_ARGUMENT,
        "VALIDATION_FAILED",
    )
    assert_invalid(error, bad)


async def test_update_needs_a_mask_of_updatable_fields(webhooks, metadata) -> None:
    created = await create_endpoint(webhooks, metadata, URL)
    for mask in ([], ["secret"]):
        error = await expect_error(
            webhooks.UpdateWebhookEndpoint(
                wh.UpdateWebhookEndpointRequest(
                    request_id=new_request_id(),
                    endpoint_id=created.endpoint.id,
                    update_mask=FieldMask(paths=mask),
                ),
                metadata=metadata,
            ),
            INVALID_ARGUMENT,
            "VALIDATION_FAILED",
        )
        assert_invalid(error, ["update_mask"])


async def test_another_merchant_sees_none_of_my_endpoints_deliveries_or_events(
    *, stub, webhooks, metadata, other_metadata, receiver, start_relay
) -> None:
    mine = await create_endpoint(webhooks, metadata, receiver.url)
    await start_relay()
    await pay(stub, metadata)

    async def delivered() -> list[wh.WebhookDelivery]:
        response = await webhooks.ListWebhookDeliveries(
            wh.ListWebhookDeliveriesRequest(), metadata=metadata
        )
        return [d for d in response.deliveries if d.state == d.STATE_SUCCEEDED]

    my_deliveries = await eventually(delivered)
    endpoint_id = mine.endpoint.id
    on_my_endpoint = [
        ("GetWebhookEndpoint", wh.GetWebhookEndpointRequest(endpoint_id=endpoint_id)),
        (
            "UpdateWebhookEndpoint",
            wh.UpdateWebhookEndpointRequest(
                request_id=new_request_id(),
                endpoint_id=endpoint_id,
                enabled=False,
                update_mask=FieldMask(paths=["enabled"]),
            ),
        ),
        (
            "RotateWebhookSecret",
            wh.RotateWebhookSecretRequest(request_id=new_request_id(), endpoint_id=endpoint_id),
        ),
        (
            "DeleteWebhookEndpoint",
            wh.DeleteWebhookEndpointRequest(request_id=new_request_id(), endpoint_id=endpoint_id),
        ),
    ]
    for rpc, request in on_my_endpoint:
        await expect_error(
            getattr(webhooks, rpc)(request, metadata=other_metadata),
            NOT_FOUND,
            "WEBHOOK_ENDPOINT_NOT_FOUND",
        )
    await expect_error(
        webhooks.RedeliverEvent(
            wh.RedeliverEventRequest(
                request_id=new_request_id(), event_id=my_deliveries[0].event_id
            ),
            metadata=other_metadata,
        ),
        NOT_FOUND,
        "EVENT_NOT_FOUND",
    )
    theirs = await webhooks.ListWebhookEndpoints(
        wh.ListWebhookEndpointsRequest(), metadata=other_metadata
    )
    their_deliveries = await webhooks.ListWebhookDeliveries(
        wh.ListWebhookDeliveriesRequest(endpoint_id=endpoint_id), metadata=other_metadata
    )
    assert list(theirs.endpoints) == []
    assert list(their_deliveries.deliveries) == []
    # And mine is untouched.
    got = await webhooks.GetWebhookEndpoint(
        wh.GetWebhookEndpointRequest(endpoint_id=endpoint_id), metadata=metadata
    )
    assert got.endpoint == mine.endpoint


async def test_deliveries_page_newest_first(stub, webhooks, metadata, receiver) -> None:
    await create_endpoint(webhooks, metadata, receiver.url)
    for _ in range(3):
        await pay(stub, metadata)

    seen: list[int] = []
    token = ""
    while True:
        page = await webhooks.ListWebhookDeliveries(
            wh.ListWebhookDeliveriesRequest(page_size=4, page_token=token), metadata=metadata
        )
        seen += [d.id for d in page.deliveries]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 6 and seen == sorted(seen, reverse=True)
    error = await expect_error(
        webhooks.ListWebhookDeliveries(
            wh.ListWebhookDeliveriesRequest(page_token="not-a-token"), metadata=metadata
        ),
        INVALID_ARGUMENT,
        "INVALID_PAGE_TOKEN",
    )
    assert_invalid(error, ["page_token"], "INVALID_PAGE_TOKEN")


async def test_a_deleted_endpoint_gets_nothing_more(stub, webhooks, metadata) -> None:
    # No relay runs: the delivery waits, pending, when the endpoint goes away.
    created = await create_endpoint(webhooks, metadata, URL, ["payment.succeeded"])
    await pay(stub, metadata)
    await webhooks.DeleteWebhookEndpoint(
        wh.DeleteWebhookEndpointRequest(
            request_id=new_request_id(), endpoint_id=created.endpoint.id
        ),
        metadata=metadata,
    )
    await pay(stub, metadata)

    listed = await webhooks.ListWebhookDeliveries(
        wh.ListWebhookDeliveriesRequest(), metadata=metadata
    )
    (ended,) = listed.deliveries  # none for the payment after the deletion
    assert ended.state == ended.STATE_DEAD and not ended.attempts
    await expect_error(
        webhooks.RedeliverEvent(
            wh.RedeliverEventRequest(request_id=new_request_id(), event_id=ended.event_id),
            metadata=metadata,
        ),
        FAILED_PRECONDITION,
        "NOTHING_TO_REDELIVER",
    )
