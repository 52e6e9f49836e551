"""A dispute's kind and state <-> protobuf enums (for disputes, and for a payment's disputes)."""

from __future__ import annotations

from core.domain.dispute_status import DisputeStatus
from core.domain.disputes import DisputeKind
from paycore.v1 import dispute_pb2 as pb

KIND_TO_PROTO: dict[DisputeKind, pb.Dispute.Kind.ValueType] = {
    DisputeKind.INQUIRY: pb.Dispute.KIND_INQUIRY,
    DisputeKind.CHARGEBACK: pb.Dispute.KIND_CHARGEBACK,
}
STATUS_TO_PROTO: dict[DisputeStatus, pb.Dispute.State.ValueType] = {
    DisputeStatus.NEEDS_RESPONSE: pb.Dispute.STATE_NEEDS_RESPONSE,
    DisputeStatus.UNDER_REVIEW: pb.Dispute.STATE_UNDER_REVIEW,
    DisputeStatus.WON: pb.Dispute.STATE_WON,
    DisputeStatus.LOST: pb.Dispute.STATE_LOST,
    DisputeStatus.CLOSED: pb.Dispute.STATE_CLOSED,
}
STATUS_FROM_PROTO = {value: key for key, value in STATUS_TO_PROTO.items()}
