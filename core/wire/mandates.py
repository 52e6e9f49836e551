"""Mandates and saved payment methods (core/domain/mandates.py) as their API messages."""

from __future__ import annotations

from datetime import datetime

from core.domain.mandates import (
    Interval,
    Mandate,
    MandateStatus,
    MandateUsage,
    SavedPaymentMethod,
)
from core.wire.convert import card_to_proto, money_to_proto, timestamp
from paycore.v1 import mandate_service_pb2 as pb

_USAGE = {
    MandateUsage.SINGLE_USE: pb.MandateScope.USAGE_SINGLE_USE,
    MandateUsage.MULTI_USE: pb.MandateScope.USAGE_MULTI_USE,
}
_INTERVAL = {
    Interval.DAY: pb.MandateScope.INTERVAL_DAY,
    Interval.WEEK: pb.MandateScope.INTERVAL_WEEK,
    Interval.MONTH: pb.MandateScope.INTERVAL_MONTH,
    Interval.YEAR: pb.MandateScope.INTERVAL_YEAR,
}
_STATUS = {
    MandateStatus.ACTIVE: pb.Mandate.STATUS_ACTIVE,
    MandateStatus.REVOKED: pb.Mandate.STATUS_REVOKED,
    MandateStatus.EXPIRED: pb.Mandate.STATUS_EXPIRED,
}


def mandate_to_proto(mandate: Mandate, at: datetime) -> pb.Mandate:
    """A mandate as MandateService shows it, with its status as of ``at``."""
    scope = mandate.scope
    frequency = scope.frequency
    message = pb.Mandate(
        id=mandate.id,
        customer_id=mandate.customer_id,
        card_token=mandate.card_token,
        scope=pb.MandateScope(
            usage=_USAGE[scope.usage],
            max_amount=money_to_proto(scope.max_amount),
            interval=(
                pb.MandateScope.INTERVAL_UNSPECIFIED
                if frequency.interval is None
                else _INTERVAL[frequency.interval]
            ),
            interval_count=0 if frequency.interval is None else frequency.count,
        ),
        status=_STATUS[mandate.status_at(at)],
        agreement_id=mandate.agreement_id,
        channel=mandate.channel,
        verification_payment_id=mandate.verification_payment_id,
        create_time=timestamp(mandate.created_at),
    )
    if scope.expires_at is not None:
        message.scope.expire_time.CopyFrom(timestamp(scope.expires_at))
    if mandate.revoked_at is not None:
        message.revoke_time.CopyFrom(timestamp(mandate.revoked_at))
    return message


def payment_method_to_proto(method: SavedPaymentMethod, at: datetime) -> pb.SavedPaymentMethod:
    """A saved card token with its mandates (statuses as of ``at``)."""
    return pb.SavedPaymentMethod(
        card_token=method.card_token,
        card=card_to_proto(method.card),
        mandates=[mandate_to_proto(m, at) for m in method.mandates],
    )
