"""Disputes -> protobuf (``paycore.v1.Dispute``), for replies and dispute events."""

from __future__ import annotations

from core.domain.dispute_rate import DisputeRate
from core.domain.disputes import Dispute
from core.domain.money import Money
from core.wire.convert import money_to_proto, timestamp
from core.wire.dispute_states import KIND_TO_PROTO, STATUS_FROM_PROTO, STATUS_TO_PROTO
from paycore.v1 import dispute_pb2 as pb
from paycore.v1 import dispute_service_pb2 as svc

__all__ = [
    "KIND_TO_PROTO",
    "STATUS_FROM_PROTO",
    "STATUS_TO_PROTO",
    "dispute_bytes",
    "dispute_rate_to_proto",
    "dispute_to_proto",
]


def dispute_to_proto(dispute: Dispute) -> pb.Dispute:
    """A dispute as the API shows it (its evidence never: only whether it was submitted)."""
    return pb.Dispute(
        id=dispute.id,
        payment_id=dispute.payment_id,
        amount=money_to_proto(dispute.amount),
        fee=money_to_proto(dispute.fee),
        kind=KIND_TO_PROTO[dispute.kind],
        state=STATUS_TO_PROTO[dispute.status],
        reason=dispute.reason,
        evidence_due_time=timestamp(dispute.evidence_due_at),
        evidence_submitted=dispute.evidence_submitted,
        channel=dispute.channel,
        channel_reference=dispute.channel_reference,
        create_time=timestamp(dispute.created_at),
        update_time=timestamp(dispute.updated_at),
    )


def dispute_bytes(dispute: Dispute) -> bytes:
    """The dispute's message, serialized: what a dispute event keeps as its snapshot."""
    return dispute_to_proto(dispute).SerializeToString(deterministic=True)


def dispute_rate_to_proto(rate: DisputeRate) -> svc.GetDisputeRateResponse:
    """GetDisputeRate's reply."""
    return svc.GetDisputeRateResponse(
        captured_payments=rate.captured_payments,
        disputes=rate.disputes,
        rate_basis_points=rate.rate_basis_points,
        inquiries=rate.inquiries,
        currencies=[
            svc.CurrencyDisputeRate(
                currency_code=c.currency,
                captured_payments=c.captured_payments,
                captured_amount=money_to_proto(Money(c.captured_amount, c.currency)),
                disputes=c.disputes,
                disputed_amount=money_to_proto(Money(c.disputed_amount, c.currency)),
                disputed_amount_basis_points=c.amount_rate_basis_points,
                inquiries=c.inquiries,
            )
            for c in rate.by_currency
        ],
    )
