"""Which events a change of a payment produces (pure: the transactional outbox's decision).

``derive_events(before, after)`` compares two values of the payment aggregate,
the one locked at the start of the transaction and the one being saved, and
names the events: nothing about *which operation* ran is needed, so a state
added later (by the risk review hold, by refund approval) produces an event
without more wiring:

- a new payment: ``payment.created`` (and, if it is stored already decided,
  the event of its state: a risk decline is ``payment.created`` then
  ``payment.failed``);
- a payment state change: the type in ``PAYMENT_STATE_EVENTS``; a state that
  table does not know yet becomes ``payment.updated`` (so a merchant still
  hears of it, and the table can name it properly later);
- a new refund: ``refund.created``; a refund state change: the type in
  ``REFUND_STATE_EVENTS``, or ``refund.updated`` for an unknown state.

Changes that are not state changes (description, metadata, the in-flight
marker of a channel call, PENDING while a channel is asked) produce no event.
States are matched by their stored value (a string), so the tables may name
states other branches are still adding.
"""

from __future__ import annotations

from core.domain.billing_events import BILLING_EVENT_TYPES
from core.domain.disputes import DISPUTE_EVENT_TYPES
from core.domain.notifications import EventDraft
from core.domain.payment import Payment, Refund

PAYMENT_CREATED = "payment.created"
PAYMENT_UPDATED = "payment.updated"
REFUND_CREATED = "refund.created"
REFUND_UPDATED = "refund.updated"

# Stored state value -> event type; None: the state is not news on its own
# (PENDING: a channel is being asked and the outcome event follows;
# (PARTIALLY_)REFUNDED: the refund.succeeded event carries it).
PAYMENT_STATE_EVENTS: dict[str, str | None] = {
    "requires_confirmation": None,
    "pending": None,
    "authorized": "payment.authorized",
    "captured": "payment.succeeded",
    "partially_refunded": None,
    "refunded": None,
    "canceled": "payment.canceled",
    "declined": "payment.failed",
    "failed": "payment.failed",
    # The risk engine's REVIEW hold (a state being added in parallel).
    "requires_review": "payment.requires_review",
    # Waiting for the customer (a 3-D Secure challenge, a verification code: next_action).
    "requires_action": "payment.requires_action",
}

REFUND_STATE_EVENTS: dict[str, str | None] = {
    "pending": None,
    "succeeded": "refund.succeeded",
    "failed": "refund.failed",
    # Refund review (a state being added in parallel).
    "pending_review": "refund.requires_review",
    # An admin's rejection of a held refund is not a channel failure: the
    # refund never reached a channel (its rejection_reason says why).
    "rejected": "refund.rejected",
}

EVENT_TYPES: tuple[str, ...] = tuple(
    sorted(
        {PAYMENT_CREATED, PAYMENT_UPDATED, REFUND_CREATED, REFUND_UPDATED}
        | set(DISPUTE_EVENT_TYPES)  # named by the dispute use cases (core/domain/disputes.py)
        | set(BILLING_EVENT_TYPES)
        | {t for t in PAYMENT_STATE_EVENTS.values() if t}
        | {t for t in REFUND_STATE_EVENTS.values() if t}
    )
)
"""Every event type paycore emits today (endpoint subscriptions are checked against it)."""


def _payment_state_event(state_value: str) -> str | None:
    return PAYMENT_STATE_EVENTS.get(state_value, PAYMENT_UPDATED)


def _refund_state_event(state_value: str) -> str | None:
    return REFUND_STATE_EVENTS.get(state_value, REFUND_UPDATED)


def derive_events(before: Payment | None, after: Payment) -> list[EventDraft]:
    """The events of changing ``before`` (None: a new payment) into ``after``, in order."""
    drafts: list[EventDraft] = []
    if before is None:
        drafts.append(EventDraft(PAYMENT_CREATED, after))
        state_event = _payment_state_event(after.state.value)
        if state_event is not None and after.state.value != "requires_confirmation":
            drafts.append(EventDraft(state_event, after))
    elif before.state is not after.state:
        state_event = _payment_state_event(after.state.value)
        if state_event is not None:
            drafts.append(EventDraft(state_event, after))
    previous: dict[str, Refund] = {} if before is None else {r.id: r for r in before.refunds}
    for refund in after.refunds:
        old = previous.get(refund.id)
        if old is None:
            drafts.append(EventDraft(REFUND_CREATED, after, refund.id))
            settled = _refund_state_event(refund.state.value)
            if settled is not None:
                drafts.append(EventDraft(settled, after, refund.id))
        elif old.state is not refund.state:
            changed = _refund_state_event(refund.state.value)
            if changed is not None:
                drafts.append(EventDraft(changed, after, refund.id))
    return drafts
