"""Events as the API shows them: the ``paycore.v1.Event`` message and its webhook JSON.

The stored snapshot is the serialized ``paycore.v1.Payment`` made when the
change committed (``payment_snapshot``), so an event shows the payment as
GetPayment showed it then, however the payment changes later; a dispute
event's is the serialized ``paycore.v1.Dispute`` (resource_type ``dispute``).
"""

from __future__ import annotations

from google.protobuf import json_format

from core.domain.notifications import StoredEvent
from core.domain.payment import Payment
from core.wire import convert
from core.wire.serialized import payment_bytes
from paycore.v1 import dispute_pb2, payment_pb2
from paycore.v1 import event_service_pb2 as event_pb


def payment_snapshot(payment: Payment) -> bytes:
    """The payment as its API message, serialized (what an event keeps).

    The same bytes as the reply's (core/wire/serialized.py): built once per change.
    """
    return payment_bytes(payment)


def event_to_proto(event: StoredEvent) -> event_pb.Event:
    """A stored event as its API message (stream and webhook alike).

    A refund event carries its refund as well, taken from the same snapshot
    (so it is the refund as it was right after the change, like the payment).
    """
    if (
        event.resource_type == "dispute"
    ):  # a dispute event keeps the dispute (core/wire/disputes.py)
        return event_pb.Event(
            id=event.id,
            sequence=event.sequence,
            type=event.type,
            create_time=convert.timestamp(event.created_at),
            dispute=dispute_pb2.Dispute.FromString(event.snapshot),
        )
    if event.resource_type in ("subscription", "invoice"):
        return _billing_event(event)
    payment = payment_pb2.Payment.FromString(event.snapshot)
    message = event_pb.Event(
        id=event.id,
        sequence=event.sequence,
        type=event.type,
        create_time=convert.timestamp(event.created_at),
        payment=payment,
        refund_id=event.refund_id,
    )
    if event.refund_id:
        for refund in payment.refunds:
            if refund.id == event.refund_id:
                message.refund.CopyFrom(refund)
                break
    return message


def _billing_event(event: StoredEvent) -> event_pb.Event:
    """A subscription's or an invoice's event: its snapshot is that resource's message."""
    message = event_pb.Event(
        id=event.id,
        sequence=event.sequence,
        type=event.type,
        create_time=convert.timestamp(event.created_at),
    )
    if event.resource_type == "invoice":
        message.invoice.ParseFromString(event.snapshot)
    else:
        message.subscription.ParseFromString(event.snapshot)
    return message


def webhook_body(event: StoredEvent) -> bytes:
    """The JSON body POSTed to webhook endpoints: the Event in proto3 JSON (lowerCamelCase)."""
    return json_format.MessageToJson(event_to_proto(event), indent=None).encode()
