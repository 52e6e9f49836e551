"""Disputes: a cardholder's challenge of a captured payment, and its state machine (pure).

A channel opens a dispute by a notification (core/callbacks/disputes.py)::

    inquiry     needs_response -> under_review -> closed   (no money moves)
                      \\-> becomes a chargeback (escalation)
    chargeback  needs_response -> under_review -> won | lost
                needs_response -> lost                    (the merchant accepts, or the
                                                           evidence due date passes)
                needs_response -> won | lost              (the channel decides unanswered)

The merchant answers with evidence (needs_response -> under_review) or
accepts (-> lost); the channel decides (won or lost). Won, lost and closed
are final: a later notification about a decided dispute changes nothing.

Money: a dispute can claim at most what the payment captured and has not
refunded or reserved for a refund in flight (``disputable``), counting the
chargebacks already open or lost on the payment; and while a dispute is open
or lost, the payment cannot be refunded (``refund_blocker``), so refunds and
disputes together never exceed the capture. A dispute notified for a payment
with nothing left to dispute (fully refunded) is acknowledged to the channel
and ignored (``disputable`` is zero: no dispute is created, a warning is
logged); the channel reverses it on its side, the cardholder having got the
money back by the refund.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.domain.dispute_status import DisputeStatus
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.evolve import evolve
from core.domain.money import Money
from core.domain.payment import Payment

DISPUTE_CREATED = "dispute.created"
DISPUTE_UPDATED = "dispute.updated"
DISPUTE_CLOSED = "dispute.closed"
DISPUTE_EVENT_TYPES = (DISPUTE_CREATED, DISPUTE_UPDATED, DISPUTE_CLOSED)
"""The events of disputes (core/events/derive.py lists them with the payments' for webhooks)."""


class DisputeKind(enum.Enum):
    """What the channel opened."""

    INQUIRY = "inquiry"
    """A question from the issuer; no money moves."""
    CHARGEBACK = "chargeback"
    """The issuer took the money back: amount and fee are withdrawn from the merchant."""


class ChannelVerdict(enum.Enum):
    """What a channel's notification says of a dispute."""

    OPENED = "opened"
    WON = "won"
    LOST = "lost"
    CLOSED = "closed"
    """An inquiry closed without a chargeback."""


@dataclass(frozen=True, slots=True)
class Dispute:
    """One dispute of one payment (amounts in the payment's currency)."""

    id: str
    merchant_id: str
    payment_id: str
    channel: str
    channel_reference: str
    """The channel's id of the dispute: one dispute per channel and reference."""
    amount: Money
    fee: Money
    """The dispute fee charged when the chargeback opened (zero for an inquiry)."""
    kind: DisputeKind
    status: DisputeStatus
    reason: str
    evidence_due_at: datetime
    created_at: datetime
    updated_at: datetime
    evidence_submitted: bool = False

    @property
    def claims(self) -> bool:
        """Whether the dispute counts against what may still be disputed: an open or lost
        chargeback (it holds the money), or an open inquiry (it may become a chargeback)."""
        if self.kind is DisputeKind.CHARGEBACK:
            return self.status is not DisputeStatus.WON
        return not self.status.is_final


@dataclass(frozen=True, slots=True)
class DisputeNotice:
    """A channel's verified notification about one dispute (core/callbacks/disputes.py)."""

    event_id: str
    """The channel's id of the notification: the same id twice is one notification."""
    attempt_id: str
    """paycore's attempt that charged the card (the id the channel was given)."""
    reference: str
    """The channel's id of the dispute; its later notifications name it again."""
    kind: DisputeKind
    verdict: ChannelVerdict
    amount: Money
    reason: str
    evidence_due_at: datetime


EVIDENCE_TEXT_FIELDS = (
    "product_description",
    "customer_details",
    "shipping_details",
    "customer_communication",
    "refund_policy",
    "uncategorized_text",
)
MAX_EVIDENCE_TEXT = 20_000
"""Characters per text field of evidence."""
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_BYTES = 256 * 1024
MAX_ATTACHMENTS_BYTES = 768 * 1024
"""All of one submission's attachments together (under the 1 MiB gRPC request limit)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file supporting the evidence."""

    file_name: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Evidence:
    """The merchant's answer to a dispute (checked against the limits above by the API)."""

    texts: tuple[tuple[str, str], ...]
    """(field, text) of the EVIDENCE_TEXT_FIELDS given, in that order."""
    attachments: tuple[Attachment, ...] = ()


def evidence_fields(evidence: Evidence) -> dict[str, object]:
    """The evidence as JSON-ready fields (attachments in base64): what is sealed and sent."""
    return {
        "texts": dict(evidence.texts),
        "attachments": [
            {
                "file_name": a.file_name,
                "content_type": a.content_type,
                "content": base64.b64encode(a.content).decode(),
            }
            for a in evidence.attachments
        ],
    }


def evidence_from_fields(fields: Mapping[str, Any]) -> Evidence:
    """The evidence of ``evidence_fields``' output (read back to send it again)."""
    texts = tuple((str(k), str(v)) for k, v in dict(fields.get("texts", {})).items())
    attachments = tuple(
        Attachment(str(a["file_name"]), str(a["content_type"]), base64.b64decode(a["content"]))
        for a in fields.get("attachments", [])
    )
    return Evidence(texts, attachments)


def disputable(payment: Payment, others: Iterable[Dispute]) -> Money:
    """How much a new dispute of ``payment`` may claim (zero: nothing left).

    What the payment captured, less what it refunded or reserved for refunds
    in flight or in review (``amount_refundable``), less what other disputes
    claim: the chargebacks holding its money and the open inquiries, which
    may become chargebacks of their amount.
    """
    held = sum(d.amount.amount for d in others if d.claims)
    return Money(max(payment.amount_refundable.amount - held, 0), payment.currency)


def refund_blocker(disputes: Iterable[Dispute]) -> Dispute | None:
    """The dispute that forbids refunding its payment: one open (any kind) or lost."""
    for dispute in disputes:
        if not dispute.status.is_final or dispute.status is DisputeStatus.LOST:
            return dispute
    return None


def _respondable(dispute: Dispute) -> None:
    if dispute.status is not DisputeStatus.NEEDS_RESPONSE:
        raise IllegalTransitionError(
            Reason.DISPUTE_NOT_RESPONDABLE, dispute_id=dispute.id, state=dispute.status.name
        )


def submit_evidence(dispute: Dispute, at: datetime) -> Dispute:
    """The merchant answered: NEEDS_RESPONSE -> UNDER_REVIEW (else DISPUTE_NOT_RESPONDABLE)."""
    _respondable(dispute)
    return evolve(
        dispute, status=DisputeStatus.UNDER_REVIEW, evidence_submitted=True, updated_at=at
    )


def accept(dispute: Dispute, at: datetime) -> Dispute:
    """The merchant gives in: NEEDS_RESPONSE -> LOST (an inquiry: CLOSED)."""
    _respondable(dispute)
    final = DisputeStatus.LOST if dispute.kind is DisputeKind.CHARGEBACK else DisputeStatus.CLOSED
    return evolve(dispute, status=final, updated_at=at)


def escalate(dispute: Dispute, fee: Money, due: datetime, at: datetime) -> Dispute | None:
    """An open inquiry became a chargeback: NEEDS_RESPONSE again, with its fee; None otherwise.

    None (nothing changes) for a dispute already a chargeback or decided.
    """
    if dispute.kind is not DisputeKind.INQUIRY or dispute.status.is_final:
        return None
    return evolve(
        dispute,
        kind=DisputeKind.CHARGEBACK,
        status=DisputeStatus.NEEDS_RESPONSE,
        fee=fee,
        evidence_due_at=due,
        evidence_submitted=False,
        updated_at=at,
    )


def expire(dispute: Dispute, at: datetime) -> Dispute | None:
    """The evidence due date passed unanswered: a chargeback is LOST, an inquiry CLOSED.

    None (nothing changes) while the due date is ahead or the dispute is not
    waiting for the merchant (evidence submitted, or decided).
    """
    if dispute.status is not DisputeStatus.NEEDS_RESPONSE or at < dispute.evidence_due_at:
        return None
    final = DisputeStatus.LOST if dispute.kind is DisputeKind.CHARGEBACK else DisputeStatus.CLOSED
    return evolve(dispute, status=final, updated_at=at)


def decide(dispute: Dispute, verdict: ChannelVerdict, at: datetime) -> Dispute | None:
    """The channel's decision applied; None when it changes nothing (order-safe).

    A decided dispute stays as it is (a late or repeated notification); an
    inquiry's verdict is CLOSED whatever the channel calls it, a chargeback's
    WON or LOST (CLOSED of a chargeback is ignored: channels close
    chargebacks by deciding them).
    """
    if dispute.status.is_final or verdict is ChannelVerdict.OPENED:
        return None
    if dispute.kind is DisputeKind.INQUIRY:
        return evolve(dispute, status=DisputeStatus.CLOSED, updated_at=at)
    if verdict is ChannelVerdict.CLOSED:
        return None
    status = DisputeStatus.WON if verdict is ChannelVerdict.WON else DisputeStatus.LOST
    return evolve(dispute, status=status, updated_at=at)


def dispute_events(before: Dispute | None, after: Dispute) -> list[str]:
    """The event types of changing ``before`` (None: a new dispute) into ``after``, in order.

    ``dispute.created`` for a new one (then ``dispute.closed`` if it is stored
    decided already: a verdict that came before the opening), ``dispute.closed``
    when it is decided, ``dispute.updated`` for another change of status, kind
    or evidence.
    """
    if before is None:
        return [DISPUTE_CREATED, DISPUTE_CLOSED] if after.status.is_final else [DISPUTE_CREATED]
    if after.status.is_final and not before.status.is_final:
        return [DISPUTE_CLOSED]
    if (before.status, before.kind, before.evidence_submitted) != (
        after.status,
        after.kind,
        after.evidence_submitted,
    ):
        return [DISPUTE_UPDATED]
    return []
