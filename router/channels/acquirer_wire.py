"""The acquirer HTTP wire format (simulator, http_acquirer): JSON signed by router.signing. Pure.

Requests: ``POST /v1/<authorize|capture|void|refund|query>`` with an attempt
(and for authorize the card); answers: 200 with a result, 503 with
``not_processed`` (the channel certainly did nothing), 401 for a bad signature.
Notifications (simulator -> paycore) use the same result fields plus an
``event_id`` and the ``attempt_id``. Dispute notifications (``POST
/callbacks/<channel>/disputes``) name the charging ``attempt_id`` and the
channel's ``dispute_id``, with ``kind``, ``status`` (opened, won, lost,
closed), ``amount``, ``currency``, ``reason`` and ``evidence_due_by`` (Unix
seconds).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.commands import CardInput
from core.domain.disputes import (
    ChannelVerdict,
    DisputeKind,
    DisputeNotice,
    Evidence,
    evidence_fields,
    evidence_from_fields,
)
from core.domain.money import Money
from core.domain.payment import Failure
from router.channel import BadSignature, Notification


def attempt_to_wire(attempt: Attempt, card: CardInput | None = None) -> dict[str, Any]:
    """An attempt (and card) as a request body."""
    body: dict[str, Any] = {
        "attempt_id": attempt.id,
        "merchant_id": attempt.merchant_id,
        "payment_id": attempt.payment_id,
        "operation": attempt.operation.value,
        "amount": attempt.amount.amount,
        "currency": attempt.amount.currency,
        "capture": attempt.capture,
        "channel_reference": attempt.channel_reference,
        "refund_id": attempt.refund_id,
        "merchant_initiated": attempt.merchant_initiated,
        "agreement_id": attempt.agreement_id,
        "eci": attempt.eci,
        "liability_shift": attempt.liability_shift,
    }
    if card is not None:
        body["card"] = {
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": card.cvc,
        }
    return body


def attempt_from_wire(body: dict[str, Any], channel: str) -> tuple[Attempt, CardInput | None]:
    """The attempt (and card) of a request body."""
    attempt = Attempt(
        id=str(body["attempt_id"]),
        merchant_id=str(body["merchant_id"]),
        payment_id=str(body["payment_id"]),
        operation=ChannelOperation(body["operation"]),
        channel=channel,
        amount=Money(int(body["amount"]), str(body["currency"])),
        refund_id=str(body.get("refund_id", "")),
        capture=bool(body.get("capture", False)),
        channel_reference=str(body.get("channel_reference", "")),
        merchant_initiated=bool(body.get("merchant_initiated", False)),
        agreement_id=str(body.get("agreement_id", "")),
        eci=str(body.get("eci", "")),
        liability_shift=bool(body.get("liability_shift", False)),
    )
    raw = body.get("card")
    card = (
        CardInput(str(raw["number"]), int(raw["exp_month"]), int(raw["exp_year"]), str(raw["cvc"]))
        if raw
        else None
    )
    return attempt, card


def result_to_wire(result: ChannelResult) -> dict[str, Any]:
    """A result as an answer body."""
    failure = result.failure
    return {
        "outcome": result.outcome.value,
        "reference": result.reference,
        "failure_code": failure.code if failure else "",
        "failure_message": failure.message if failure else "",
        "not_processed": result.not_processed,
    }


def result_from_wire(body: dict[str, Any]) -> ChannelResult:
    """The result of an answer (or notification) body."""
    code = str(body.get("failure_code", ""))
    return ChannelResult(
        AttemptOutcome(body["outcome"]),
        reference=str(body.get("reference", "")),
        failure=Failure(code, str(body.get("failure_message", ""))) if code else None,
        not_processed=bool(body.get("not_processed", False)),
    )


def notification_to_wire(event_id: str, attempt_id: str, result: ChannelResult) -> dict[str, Any]:
    """A notification body."""
    return {"event_id": event_id, "attempt_id": attempt_id, **result_to_wire(result)}


def notification_from_wire(body: dict[str, Any]) -> Notification:
    """The notification of a (verified) body."""
    return Notification(str(body["event_id"]), str(body["attempt_id"]), result_from_wire(body))


def dispute_notice_to_wire(notice: DisputeNotice) -> dict[str, Any]:
    """A dispute notification body."""
    return {
        "event_id": notice.event_id,
        "attempt_id": notice.attempt_id,
        "dispute_id": notice.reference,
        "kind": notice.kind.value,
        "status": notice.verdict.value,
        "amount": notice.amount.amount,
        "currency": notice.amount.currency,
        "reason": notice.reason,
        "evidence_due_by": int(notice.evidence_due_at.timestamp()),
    }


def dispute_notice_from_wire(body: dict[str, Any]) -> DisputeNotice:
    """The dispute notification of a (verified) body (ValueError, KeyError, TypeError if not)."""
    return DisputeNotice(
        event_id=str(body["event_id"]),
        attempt_id=str(body["attempt_id"]),
        reference=str(body["dispute_id"]),
        kind=DisputeKind(body["kind"]),
        verdict=ChannelVerdict(body["status"]),
        amount=Money(int(body["amount"]), str(body["currency"])),
        reason=str(body.get("reason", "")),
        evidence_due_at=datetime.fromtimestamp(int(body["evidence_due_by"]), UTC),
    )


def evidence_to_wire(reference: str, evidence: Evidence) -> dict[str, Any]:
    """The body of ``POST /v1/dispute_evidence``: the channel's dispute and the evidence."""
    return {"dispute_id": reference, **evidence_fields(evidence)}


def evidence_from_wire(body: dict[str, Any]) -> tuple[str, Evidence]:
    """The dispute reference and evidence of a ``dispute_evidence`` body."""
    return str(body["dispute_id"]), evidence_from_fields(body)


UNREADABLE = (ValueError, KeyError, TypeError, OverflowError, OSError, RecursionError)
"""What decoding a body that is not what the wire format says raises: not JSON, not an
object, a field missing or of another type, a time beyond datetime's range
(OverflowError, or OSError from the platform's time_t), JSON nested too deep for the
parser (RecursionError)."""


def signed_object(body: bytes) -> dict[str, Any]:
    """A signed body's JSON object (ValueError if it is none, or holds a NUL PostgreSQL refuses)."""
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    if any(isinstance(value, str) and "\x00" in value for value in data.values()):
        raise ValueError("a text field holds the NUL character (U+0000)")
    return data


def signed_notification(body: bytes) -> Notification:
    """The notification of a body whose signature was verified.

    A signed body that does not decode is refused like a bad signature
    (BadSignature, answered 401): the channel sent something paycore cannot act on.
    """
    try:
        return notification_from_wire(signed_object(body))
    except UNREADABLE as exc:
        raise BadSignature(f"signed but unreadable notification: {exc}") from None


def signed_dispute_notice(body: bytes) -> DisputeNotice:
    """The dispute notification of a body whose signature was verified.

    A signed body that does not decode is refused like a bad signature
    (BadSignature): the channel sent something paycore cannot act on.
    """
    try:
        return dispute_notice_from_wire(signed_object(body))
    except UNREADABLE as exc:
        raise BadSignature(f"signed but unreadable dispute notification: {exc}") from None
