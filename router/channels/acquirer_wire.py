"""The acquirer HTTP wire format (simulator, http_acquirer): JSON signed by router.signing. Pure.

Requests: ``POST /v1/<authorize|capture|void|refund|query>`` with an attempt
(and for authorize the card); answers: 200 with a result, 503 with
``not_processed`` (the channel certainly did nothing), 401 for a bad signature.
Notifications (simulator -> paycore) use the same result fields plus an
``event_id`` and the ``attempt_id``.
"""

from __future__ import annotations

from typing import Any

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.commands import CardInput
from core.domain.money import Money
from core.domain.payment import Failure
from router.channel import Notification


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
