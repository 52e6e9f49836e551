"""Webhooks end to end: a real HTTP receiver, real relay workers, real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json

from google.protobuf import duration_pb2
from google.protobuf.field_mask_pb2 import FieldMask

from paycore.client import WebhookSignatureError, verify_webhook_signature
from paycore.v1 import webhook_service_pb2 as wh
from tests.events.helpers import pay
from tests.support.expect import FAILED_PRECONDITION, NOT_FOUND, expect_error
from tests.support.polling import eventually
from tests.support.requests import manual_capture, new_request_id
from tests.support.webhooks import FAST, Receiver, create_endpoint

D = wh.WebhookDelivery


async def deliveries(webhooks, metadata, **filters) -> list[wh.WebhookDelivery]:
    response = await webhooks.ListWebhookDeliveries(
        wh.ListWebhookDeliveriesRequest(page_size=200, **filters), metadata=metadata
    )
    return list(response.deliveries)


async def test_every_outcome_is_posted_signed_and_verifies_with_the_client_helper(
    stub, webhooks, metadata, receiver: Receiver, start_relay
) -> None:
    endpoint = await create_endpoint(webhooks, metadata, receiver.url)
    await start_relay()

    captured = (await pay(stub, metadata)).payment
    authorized = (await pay(stub, metadata, **manual_capture())).payment

    await eventually(lambda: len(receiver.delivered()) == 4, what="4 events delivered")
    seen = []
    for request in receiver.received:
        verify_webhook_signature(request.body, request.signature, endpoint.secret)
        body = json.loads(request.body)
        assert body["id"] == request.event_id  # the header names the body's event
        seen.append((body["type"], body["payment"]["id"]))
    assert sorted(seen) == sorted(
        [
            ("payment.created", captured.id),
            ("payment.succeeded", captured.id),
            ("payment.created", authorized.id),
            ("payment.authorized", authorized.id),
        ]
    )
    succeeded = next(
        json.loads(r.body) for r in receiver.received if b"payment.succeeded" in r.body
    )
    assert succeeded["payment"]["state"] == "STATE_CAPTURED"
    assert succeeded["sequence"]


async def test_receiver_down_for_a_while_then_up_gets_every_event(
    stub, webhooks, metadata, receiver: Receiver, start_relay
) -> None:
    await create_endpoint(webhooks, metadata, receiver.url)
    await receiver.stop()  # connections refused from here on
    payments = [(await pay(stub, metadata)).payment.id for _ in range(5)]
    # Retries every 0.1 s for about 60 s: the outage must end before the
    # schedule does, however slowly this machine runs the test (a loaded
    # 2-core box took over 10 s to see the first failures recorded).
    await start_relay(dataclasses.replace(FAST, schedule_s=(0.1,) * 600))

    async def failed_attempts_recorded() -> bool:
        rows = await deliveries(webhooks, metadata)
        return len(rows) == 10 and all(
            row.attempts and row.attempts[0].status_code == 0 and row.attempts[0].error
            for row in rows
        )

    await eventually(failed_attempts_recorded, what="first attempts fail while down")
    await receiver.start()  # same port

    await eventually(lambda: len(set(receiver.delivered())) == 10, 30, what="all 10 events")

    async def all_recorded_succeeded() -> list[wh.WebhookDelivery]:
        # The receiver sees a POST just before the relay commits its outcome.
        rows = await deliveries(webhooks, metadata)
        return rows if {row.state for row in rows} == {D.STATE_SUCCEEDED} else []

    rows = await eventually(all_recorded_succeeded, what="every delivery recorded succeeded")
    assert set(receiver.delivered()) == {row.event_id for row in rows}
    bodies = {json.loads(r.body)["payment"]["id"] for r in receiver.received}
    assert bodies == set(payments)


async def test_dead_letter_after_the_last_attempt_then_redeliver(
    stub, webhooks, metadata, receiver: Receiver, start_relay
) -> None:
    await create_endpoint(webhooks, metadata, receiver.url, ["payment.succeeded"])
    receiver.status = 500
    await start_relay(dataclasses.replace(FAST, schedule_s=(0.02, 0.02)))
    await pay(stub, metadata)

    async def dead() -> list[wh.WebhookDelivery]:
        rows = await deliveries(webhooks, metadata, states=[D.STATE_DEAD])
        return rows

    (row,) = await eventually(dead, what="dead-lettered")
    assert [(a.attempt, a.status_code, a.error) for a in row.attempts] == [
        (1, 500, "HTTP 500"),
        (2, 500, "HTTP 500"),
        (3, 500, "HTTP 500"),
    ]
    assert all(a.HasField("latency") and a.HasField("attempt_time") for a in row.attempts)

    receiver.status = 200
    again = await webhooks.RedeliverEvent(
        wh.RedeliverEventRequest(request_id=new_request_id(), event_id=row.event_id),
        metadata=metadata,
    )
    assert [(d.id, d.state) for d in again.deliveries] == [(row.id, D.STATE_PENDING)]

    async def succeeded() -> list[wh.WebhookDelivery]:
        return await deliveries(webhooks, metadata, states=[D.STATE_SUCCEEDED])

    (done,) = await eventually(succeeded, what="redelivered")
    assert [a.status_code for a in done.attempts] == [500, 500, 500, 200]
    assert receiver.delivered() == [row.event_id]

    # Nothing dead or finished left to send: a pending or unknown one is refused.
    await expect_error(
        webhooks.RedeliverEvent(
            wh.RedeliverEventRequest(
                request_id=new_request_id(), event_id="evt_01JD0Z8W7X6V5T4S3R2Q1P0N9M"
            ),
            metadata=metadata,
        ),
        NOT_FOUND,
        "EVENT_NOT_FOUND",
    )
    receiver.hold = asyncio.Event()  # keep the next one pending
    await webhooks.RedeliverEvent(
        wh.RedeliverEventRequest(request_id=new_request_id(), event_id=row.event_id),
        metadata=metadata,
    )
    await expect_error(
        webhooks.RedeliverEvent(
            wh.RedeliverEventRequest(request_id=new_request_id(), event_id=row.event_id),
            metadata=metadata,
        ),
        FAILED_PRECONDITION,
        "NOTHING_TO_REDELIVER",
    )
    receiver.hold.set()


async def test_secret_rotation_signs_with_both_secrets_during_the_overlap(
    stub, webhooks, metadata, receiver: Receiver, start_relay
) -> None:
    created = await create_endpoint(webhooks, metadata, receiver.url, ["payment.succeeded"])
    endpoint_id = created.endpoint.id
    await start_relay()

    rotated = await webhooks.RotateWebhookSecret(
        wh.RotateWebhookSecretRequest(
            request_id=new_request_id(),
            endpoint_id=endpoint_id,
            overlap=duration_pb2.Duration(seconds=3600),
        ),
        metadata=metadata,
    )
    assert rotated.secret != created.secret
    assert rotated.endpoint.HasField("previous_secret_expire_time")
    await pay(stub, metadata)
    await eventually(lambda: len(receiver.delivered()) == 1)
    during = receiver.received[0]
    assert during.signature.count("v1=") == 2
    verify_webhook_signature(during.body, during.signature, created.secret)
    verify_webhook_signature(during.body, during.signature, rotated.secret)

    ended = await webhooks.RotateWebhookSecret(
        wh.RotateWebhookSecretRequest(
            request_id=new_request_id(),
            endpoint_id=endpoint_id,
            overlap=duration_pb2.Duration(seconds=0),
        ),
        metadata=metadata,
    )
    await pay(stub, metadata)
    await eventually(lambda: len(receiver.delivered()) == 2)
    after = receiver.received[1]
    assert after.signature.count("v1=") == 1
    verify_webhook_signature(after.body, after.signature, ended.secret)
    for old in (created.secret, rotated.secret):
        try:
            verify_webhook_signature(after.body, after.signature, old)
        except WebhookSignatureError:
            continue
        raise AssertionError("a retired secret still verifies")


async def test_a_slow_endpoint_with_a_backlog_does_not_delay_another(
    stub, webhooks, metadata, make_receiver, start_relay
) -> None:
    slow, fast = await make_receiver(), await make_receiver()
    slow.hold = asyncio.Event()
    await create_endpoint(webhooks, metadata, slow.url)
    for _ in range(4):  # a backlog for the slow endpoint only, due before anything else
        await pay(stub, metadata)
    await create_endpoint(webhooks, metadata, fast.url)
    for _ in range(2):
        await pay(stub, metadata)
    # Room for 4 POSTs in this worker, 2 per endpoint: the slow endpoint's
    # backlog must not take the fast endpoint's turn. (A long timeout: held
    # POSTs must stay held, not time out and come again, however slow the run.)
    await start_relay(dataclasses.replace(FAST, max_in_flight=4, timeout_s=60.0))

    await eventually(lambda: len(set(fast.delivered())) == 4, what="fast endpoint served")
    assert slow.delivered() == []  # every POST to it is still held
    assert slow.in_flight <= FAST.endpoint_concurrency

    slow.hold.set()
    await eventually(lambda: len(set(slow.delivered())) == 12, what="slow endpoint caught up")
    assert slow.max_in_flight <= FAST.endpoint_concurrency


async def test_two_relay_workers_share_the_work_without_double_delivery(
    stub, webhooks, metadata, receiver: Receiver, start_relay
) -> None:
    await create_endpoint(webhooks, metadata, receiver.url)
    await start_relay()
    await start_relay()

    for _ in range(6):
        await pay(stub, metadata)

    await eventually(lambda: len(receiver.delivered()) >= 12, what="12 events")
    rows = await deliveries(webhooks, metadata)
    await eventually(
        lambda: len(receiver.delivered()) == len(rows) == 12, what="no extra deliveries"
    )
    assert len(set(receiver.delivered())) == 12  # each exactly once: leases held
    assert all(len(row.attempts) <= 1 for row in rows)


async def test_an_endpoint_gets_only_its_event_types_and_a_disabled_one_nothing(
    stub, webhooks, metadata, make_receiver, start_relay
) -> None:
    only_success, disabled = await make_receiver(), await make_receiver()
    await create_endpoint(webhooks, metadata, only_success.url, ["payment.succeeded"])
    off = await create_endpoint(webhooks, metadata, disabled.url)
    await webhooks.UpdateWebhookEndpoint(
        wh.UpdateWebhookEndpointRequest(
            request_id=new_request_id(),
            endpoint_id=off.endpoint.id,
            enabled=False,
            update_mask=FieldMask(paths=["enabled"]),
        ),
        metadata=metadata,
    )
    await start_relay()

    await pay(stub, metadata, **manual_capture())  # created + authorized: not subscribed
    await pay(stub, metadata)  # created + succeeded

    await eventually(lambda: len(only_success.delivered()) == 1)
    assert json.loads(only_success.received[0].body)["type"] == "payment.succeeded"
    assert await deliveries(webhooks, metadata, endpoint_id=off.endpoint.id) == []
    assert disabled.received == []
