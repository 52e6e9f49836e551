"""Domain values -> protobuf messages (the other way: the request checks, core/api/requests/)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2
from google.type import money_pb2

from core.domain.merchant_settings import MerchantSettings
from core.domain.money import Money
from core.domain.payment import (
    WALLET_KEY,
    AttemptRecord,
    BankTransferDetails,
    CaptureMethod,
    CardSummary,
    ConfirmationMethod,
    Failure,
    Payment,
    PaymentState,
    Refund,
    RefundState,
    RiskAssessment,
    RiskDecision,
)
from core.wire.authentication import authentication_to_proto, next_action_to_proto
from core.wire.dispute_states import STATUS_TO_PROTO as DISPUTE_STATE_TO_PROTO
from paycore.v1 import merchant_settings_service_pb2 as settings_pb
from paycore.v1 import payment_pb2 as pb

STATE_TO_PROTO: dict[PaymentState, pb.Payment.State.ValueType] = {
    PaymentState.REQUIRES_CONFIRMATION: pb.Payment.STATE_REQUIRES_CONFIRMATION,
    PaymentState.REQUIRES_REVIEW: pb.Payment.STATE_REQUIRES_REVIEW,
    PaymentState.REQUIRES_ACTION: pb.Payment.STATE_REQUIRES_ACTION,
    PaymentState.PENDING: pb.Payment.STATE_PENDING,
    PaymentState.AUTHORIZED: pb.Payment.STATE_AUTHORIZED,
    PaymentState.CAPTURED: pb.Payment.STATE_CAPTURED,
    PaymentState.PARTIALLY_REFUNDED: pb.Payment.STATE_PARTIALLY_REFUNDED,
    PaymentState.REFUNDED: pb.Payment.STATE_REFUNDED,
    PaymentState.CANCELED: pb.Payment.STATE_CANCELED,
    PaymentState.DECLINED: pb.Payment.STATE_DECLINED,
    PaymentState.FAILED: pb.Payment.STATE_FAILED,
}
STATE_FROM_PROTO = {value: key for key, value in STATE_TO_PROTO.items()}

CAPTURE_TO_PROTO = {
    CaptureMethod.AUTOMATIC: pb.CAPTURE_METHOD_AUTOMATIC,
    CaptureMethod.MANUAL: pb.CAPTURE_METHOD_MANUAL,
}
CONFIRMATION_TO_PROTO = {
    ConfirmationMethod.AUTOMATIC: pb.CONFIRMATION_METHOD_AUTOMATIC,
    ConfirmationMethod.MANUAL: pb.CONFIRMATION_METHOD_MANUAL,
}
REFUND_STATE_TO_PROTO: dict[RefundState, pb.Refund.State.ValueType] = {
    RefundState.PENDING: pb.Refund.STATE_PENDING,
    RefundState.SUCCEEDED: pb.Refund.STATE_SUCCEEDED,
    RefundState.FAILED: pb.Refund.STATE_FAILED,
    RefundState.PENDING_REVIEW: pb.Refund.STATE_PENDING_REVIEW,
    RefundState.REJECTED: pb.Refund.STATE_REJECTED,
}
REFUND_STATE_FROM_PROTO = {value: key for key, value in REFUND_STATE_TO_PROTO.items()}
_DECISION = {
    RiskDecision.APPROVE: pb.RiskAssessment.DECISION_APPROVE,
    RiskDecision.REVIEW: pb.RiskAssessment.DECISION_REVIEW,
    RiskDecision.DECLINE: pb.RiskAssessment.DECISION_DECLINE,
    RiskDecision.STEP_UP: pb.RiskAssessment.DECISION_STEP_UP,
}


def money_to_proto(money: Money) -> money_pb2.Money:
    """Minor units -> google.type.Money."""
    units, nanos = money.to_units_nanos()
    return money_pb2.Money(currency_code=money.currency, units=units, nanos=nanos)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """A datetime as a protobuf Timestamp (a naive one is taken as UTC).

    The same fields as ``Timestamp.FromDatetime`` gives, in integer arithmetic:
    that goes through ``utctimetuple`` and ``calendar.timegm``, several times
    slower, and a payment has four timestamps or more.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=delta.days * 86_400 + delta.seconds, nanos=value.microsecond * 1000
    )


def risk_to_proto(risk: RiskAssessment) -> pb.RiskAssessment:
    """A risk assessment as its API message."""
    return pb.RiskAssessment(
        score=risk.score, decision=_DECISION[risk.decision], reasons=list(risk.reasons)
    )


def card_to_proto(card: CardSummary) -> pb.Card:
    """A stored card as shown on the API: masked, never the full number."""
    return pb.Card(
        brand=card.brand,
        bin=card.bin,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        fingerprint=card.fingerprint,
    )


def bank_transfer_to_proto(transfer: BankTransferDetails) -> pb.BankTransfer:
    """A bank transfer as shown on the API: the payer and what they need to pay."""
    message = pb.BankTransfer(
        payer_name=transfer.payer_name,
        payer_email=transfer.payer_email,
        reference=transfer.reference,
    )
    if transfer.pay_to is not None:
        message.iban = transfer.pay_to.iban
        message.bic = transfer.pay_to.bic
        message.account_holder = transfer.pay_to.holder
    return message


def failure_to_proto(failure: Failure) -> pb.PaymentFailure:
    """Why a payment or a refund was declined or failed, as its API message."""
    return pb.PaymentFailure(code=failure.code, message=failure.message)


def refund_to_proto(refund: Refund) -> pb.Refund:
    """A domain refund as its API message."""
    message = pb.Refund(
        id=refund.id,
        payment_id=refund.payment_id,
        amount=money_to_proto(refund.amount),
        state=REFUND_STATE_TO_PROTO[refund.state],
        reason=refund.reason,
        channel_reference=refund.channel_reference,
        rejection_reason=refund.rejection_reason,
        create_time=timestamp(refund.created_at),
    )
    if refund.failure is not None:
        message.failure.CopyFrom(failure_to_proto(refund.failure))
    return message


def payment_to_proto(payment: Payment) -> pb.Payment:
    """A domain payment as its API message (never a full card number)."""
    message = pb.Payment(
        id=payment.id,
        merchant_id=payment.merchant_id,
        state=STATE_TO_PROTO[payment.state],
        amount=money_to_proto(payment.amount),
        amount_captured=money_to_proto(payment.amount_captured),
        amount_refunded=money_to_proto(payment.amount_refunded),
        capture_method=CAPTURE_TO_PROTO[payment.capture_method],
        confirmation_method=CONFIRMATION_TO_PROTO[payment.confirmation_method],
        customer_id=payment.customer_id,
        description=payment.description,
        metadata=dict(payment.metadata),
        channel=payment.channel,
        channel_reference=payment.channel_reference,
        refunds=[refund_to_proto(refund) for refund in payment.refunds],
        create_time=timestamp(payment.created_at),
        update_time=timestamp(payment.updated_at),
    )
    if payment.card is not None:
        message.payment_method.card.CopyFrom(card_to_proto(payment.card))
    if payment.bank_transfer is not None:
        message.payment_method.bank_transfer.CopyFrom(bank_transfer_to_proto(payment.bank_transfer))
    if payment.redirect_wallet is not None:
        if payment.redirect_wallet.scan_qr:
            message.payment_method.qr_wallet.provider = payment.redirect_wallet.provider
        else:
            message.payment_method.redirect_wallet.provider = payment.redirect_wallet.provider
    wallet = payment.metadata.get(WALLET_KEY)
    if wallet:  # PayFromWallet: the wallet is the payment method
        message.payment_method.wallet.account_id = wallet
    if payment.risk is not None:
        message.risk.CopyFrom(risk_to_proto(payment.risk))
    if payment.failure is not None:
        message.failure.CopyFrom(failure_to_proto(payment.failure))
    if payment.routing is not None:
        message.routing.CopyFrom(
            pb.RoutingDecision(
                candidates=list(payment.routing.candidates), steps=list(payment.routing.steps)
            )
        )
    message.attempts.extend(attempt_to_proto(attempt) for attempt in payment.attempts)
    if payment.next_action is not None:
        message.next_action.CopyFrom(next_action_to_proto(payment.next_action))
    if payment.authentication is not None:
        message.authentication.CopyFrom(authentication_to_proto(payment.authentication))
    message.disputes.extend(
        pb.PaymentDispute(
            dispute_id=d.id, state=DISPUTE_STATE_TO_PROTO[d.status], amount=money_to_proto(d.amount)
        )
        for d in payment.disputes
    )
    return message


def attempt_to_proto(attempt: AttemptRecord) -> pb.ChannelAttempt:
    """A recorded channel attempt as its API message."""
    message = pb.ChannelAttempt(
        id=attempt.id,
        operation=attempt.operation,
        channel=attempt.channel,
        amount=money_to_proto(attempt.amount),
        outcome=attempt.outcome,
        failure_code=attempt.failure_code,
        channel_reference=attempt.channel_reference,
        refund_id=attempt.refund_id,
        create_time=timestamp(attempt.created_at),
        needs_attention=attempt.needs_attention,
    )
    if attempt.completed_at is not None:
        message.complete_time.CopyFrom(timestamp(attempt.completed_at))
    return message


def merchant_settings_to_proto(settings: MerchantSettings) -> settings_pb.MerchantSettings:
    """A merchant's settings as their API message."""
    message = settings_pb.MerchantSettings(
        refund_review_thresholds=[money_to_proto(t) for t in settings.refund_review_thresholds]
    )
    if settings.updated_at is not None:
        message.update_time.CopyFrom(timestamp(settings.updated_at))
    return message
