"""A payment's customer action and 3-D Secure result -> protobuf (``Payment.next_action``,
``Payment.authentication``)."""

from __future__ import annotations

from datetime import UTC

from google.protobuf import timestamp_pb2

from core.domain.authentication import (
    Authentication,
    AuthenticationFlow,
    AuthenticationStatus,
    NextAction,
)
from core.domain.verification import VerifyCode
from core.wire.qr_codes import qr_code_to_proto
from paycore.v1 import payment_pb2 as pb

_FLOW = {
    AuthenticationFlow.FRICTIONLESS: pb.Authentication.FLOW_FRICTIONLESS,
    AuthenticationFlow.CHALLENGE: pb.Authentication.FLOW_CHALLENGE,
}
_STATUS = {
    AuthenticationStatus.CHALLENGE_PENDING: pb.Authentication.STATUS_CHALLENGE_PENDING,
    AuthenticationStatus.SUCCEEDED: pb.Authentication.STATUS_SUCCEEDED,
    AuthenticationStatus.FAILED: pb.Authentication.STATUS_FAILED,
    AuthenticationStatus.UNAVAILABLE: pb.Authentication.STATUS_UNAVAILABLE,
    AuthenticationStatus.ABANDONED: pb.Authentication.STATUS_ABANDONED,
}


def next_action_to_proto(action: NextAction) -> pb.NextAction:
    """What the customer must do (follow a redirect, show a QR code, enter a code), and until
    when."""
    expire = timestamp_pb2.Timestamp()
    expire.FromDatetime(action.expires_at.astimezone(UTC))
    message = pb.NextAction(expire_time=expire)
    if action.redirect is not None:
        message.redirect_to_url.url = action.redirect.url
        message.redirect_to_url.return_url = action.redirect.return_url
    if action.qr_code is not None:
        message.display_qr_code.CopyFrom(qr_code_to_proto(action.qr_code.payload))
    if action.verify_code is not None:
        message.verify_code.CopyFrom(verify_code_to_proto(action.verify_code))
    return message


def authentication_to_proto(result: Authentication) -> pb.Authentication:
    """The flow, status, ECI and liability shift of a payment's authentication."""
    return pb.Authentication(
        flow=_FLOW[result.flow],
        status=_STATUS[result.status],
        eci=result.eci,
        liability_shift=result.liability_shift,
    )


def verify_code_to_proto(step: VerifyCode) -> pb.VerifyCode:
    """Where the code went (masked) and how many wrong codes are left; never the code."""
    return pb.VerifyCode(sent_to=step.sent_to, attempts_left=step.attempts_left)
