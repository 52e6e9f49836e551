"""EventService.StreamEvents: backlog, then live; resuming loses nothing and repeats nothing."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from core.config import Settings
from paycore.v1 import event_service_pb2 as ev
from paycore.v1 import event_service_pb2_grpc
from paycore.v1 import payment_service_pb2 as svc
from tests.events.helpers import pay
from tests.support.expect import INVALID_ARGUMENT, assert_invalid, error_info
from tests.support.requests import REFUND_FAILS, build, card, manual_capture, usd
from tests.support.serving import serve_paycore


async def read(call: Any, count: int) -> list[ev.Event]:
    """The next ``count`` events of an open stream."""
    events = []
    async for message in call:
        events.append(message.event)
        if len(events) == count:
            return events
    raise AssertionError(f"stream ended after {len(events)} of {count} events")


async def test_backlog_then_live_then_resume_from_the_cursor_loses_and_repeats_nothing(
    stub, event_stub, metadata
) -> None:
    first = (await pay(stub, metadata)).payment
    second = (await pay(stub, metadata, **manual_capture())).payment

    call = event_stub.StreamEvents(ev.StreamEventsRequest(after_sequence=0), metadata=metadata)
    backlog = await read(call, 4)
    live_payment = (await pay(stub, metadata)).payment  # committed while the stream is open
    live = await read(call, 2)
    call.cancel()  # the subscriber goes away

    missed = (await pay(stub, metadata)).payment  # committed while nobody listens
    cursor = live[-1].sequence
    resumed_call = event_stub.StreamEvents(
        ev.StreamEventsRequest(after_sequence=cursor), metadata=metadata
    )
    resumed = await read(resumed_call, 2)
    resumed_call.cancel()

    everything = backlog + live + resumed
    assert [e.sequence for e in everything] == list(range(1, 9))  # no gap, no repeat
    assert len({e.id for e in everything}) == 8
    assert [(e.type, e.payment.id) for e in everything] == [
        ("payment.created", first.id),
        ("payment.succeeded", first.id),
        ("payment.created", second.id),
        ("payment.authorized", second.id),
        ("payment.created", live_payment.id),
        ("payment.succeeded", live_payment.id),
        ("payment.created", missed.id),
        ("payment.succeeded", missed.id),
    ]
    # The snapshot is the payment as it was right after each change.
    assert everything[0].payment.state == everything[0].payment.STATE_PENDING
    assert everything[1].payment.state == everything[1].payment.STATE_CAPTURED


async def test_a_type_filter_streams_only_those_types(stub, event_stub, metadata) -> None:
    await pay(stub, metadata, **manual_capture())
    succeeded = (await pay(stub, metadata)).payment

    call = event_stub.StreamEvents(
        ev.StreamEventsRequest(event_types=["payment.succeeded"]), metadata=metadata
    )
    (only,) = await read(call, 1)
    call.cancel()

    assert (only.type, only.payment.id, only.sequence) == ("payment.succeeded", succeeded.id, 4)


async def test_a_merchant_streams_only_its_own_events(
    stub, event_stub, metadata, other_metadata
) -> None:
    await pay(stub, metadata)
    theirs = (await pay(stub, other_metadata)).payment

    call = event_stub.StreamEvents(ev.StreamEventsRequest(), metadata=other_metadata)
    events = await read(call, 2)
    call.cancel()

    assert {e.payment.id for e in events} == {theirs.id}
    assert [e.sequence for e in events] == [1, 2]  # numbered per merchant


async def test_a_negative_cursor_or_unknown_type_is_invalid(event_stub, metadata) -> None:
    call = event_stub.StreamEvents(
        ev.StreamEventsRequest(after_sequence=-1, event_types=["payment.exploded"]),
        metadata=metadata,
    )
    try:
        await read(call, 1)
    except grpc.aio.AioRpcError as error:
        assert error.code() == INVALID_ARGUMENT
        assert_invalid(error, ["after_sequence", "event_types"])
    else:
        raise AssertionError("an invalid stream request was accepted")


async def test_refunds_and_cancels_stream_with_the_payment_snapshot(
    stub, event_stub, metadata
) -> None:
    captured = (await pay(stub, metadata)).payment
    refunded = await stub.RefundPayment(
        build(svc.RefundPaymentRequest, payment_id=captured.id, amount=usd(4)), metadata=metadata
    )
    failing = (await pay(stub, metadata, payment_method=card(REFUND_FAILS))).payment
    await stub.RefundPayment(
        build(svc.RefundPaymentRequest, payment_id=failing.id), metadata=metadata
    )
    held = (await pay(stub, metadata, **manual_capture())).payment
    await stub.CancelPayment(build(svc.CancelPaymentRequest, payment_id=held.id), metadata=metadata)

    call = event_stub.StreamEvents(ev.StreamEventsRequest(), metadata=metadata)
    events = await read(call, 11)
    call.cancel()

    refund_id, failed_refund_id = refunded.refund.id, events[6].refund_id
    assert [(e.type, e.refund_id) for e in events] == [
        ("payment.created", ""),
        ("payment.succeeded", ""),
        ("refund.created", refund_id),
        ("refund.succeeded", refund_id),
        ("payment.created", ""),
        ("payment.succeeded", ""),
        ("refund.created", failed_refund_id),
        ("refund.failed", failed_refund_id),
        ("payment.created", ""),
        ("payment.authorized", ""),
        ("payment.canceled", ""),
    ]
    succeeded = events[3].payment
    assert succeeded.state == succeeded.STATE_PARTIALLY_REFUNDED
    assert succeeded.amount_refunded.units == 4
    assert events[2].payment.refunds[0].state == events[2].payment.refunds[0].STATE_PENDING


async def test_the_stream_runs_the_rpc_pipeline_a_caller_without_a_key_is_refused(
    event_stub,
) -> None:
    call = event_stub.StreamEvents(ev.StreamEventsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await read(call, 1)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_info(caught.value).reason == "API_KEY_MISSING"


async def test_a_server_shutting_down_ends_its_streams_and_the_cursor_resumes_elsewhere(
    settings: Settings, stub, event_stub, metadata
) -> None:
    async with serve_paycore(settings) as leaving:
        call = leaving.stub(event_service_pb2_grpc.EventServiceStub).StreamEvents(
            ev.StreamEventsRequest(), metadata=metadata
        )
        await pay(stub, metadata)
        before = await read(call, 2)
        await leaving.stop(grace_s=30.0)
        assert [m async for m in call] == []  # ended, not hung until the grace
        assert await call.code() == grpc.StatusCode.OK

    after = (await pay(stub, metadata)).payment
    resumed = event_stub.StreamEvents(
        ev.StreamEventsRequest(after_sequence=before[-1].sequence), metadata=metadata
    )
    events = await read(resumed, 2)
    resumed.cancel()
    assert [(e.sequence, e.payment.id) for e in events] == [(3, after.id), (4, after.id)]
