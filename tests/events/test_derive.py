"""The outbox's decision, without a database: which events a payment change produces."""

from __future__ import annotations

import dataclasses
import enum
from datetime import UTC, datetime

import pytest

from core.config import Settings
from core.domain.money import Money
from core.domain.payment import (
    Failure,
    Payment,
    PaymentState,
    Refund,
    RefundState,
)
from core.events.derive import EVENT_TYPES, derive_events
from core.events.schedule import parse_duration, parse_schedule, retry_delay
from tests.support.payments import domain_payment

AT = datetime(2026, 1, 1, tzinfo=UTC)
S = PaymentState


def payment(state: PaymentState = S.REQUIRES_CONFIRMATION, **fields: object) -> Payment:
    return domain_payment(state, merchant_id="m", created_at=AT, updated_at=AT, **fields)


def captured(**fields: object) -> Payment:
    return payment(S.CAPTURED, amount_captured=Money(1000, "USD"), **fields)


def refund(state: RefundState = RefundState.PENDING, refund_id: str = "re_1") -> Refund:
    return Refund(refund_id, "pay_1", Money(400, "USD"), state, "", AT)


def types(before: Payment | None, after: Payment) -> list[str]:
    return [draft.type for draft in derive_events(before, after)]


def test_a_new_payment_is_created_and_nothing_else_while_it_waits() -> None:
    assert types(None, payment()) == ["payment.created"]
    # Sent to the channel at creation: the outcome event follows on the answer.
    assert types(None, payment(S.PENDING, operation_in_flight="authorize")) == ["payment.created"]


def test_a_payment_stored_already_decided_is_created_then_failed() -> None:
    declined = payment(S.DECLINED, failure=Failure("risk_declined", "no"))
    assert types(None, declined) == ["payment.created", "payment.failed"]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (S.PENDING, S.AUTHORIZED, "payment.authorized"),
        (S.PENDING, S.CAPTURED, "payment.succeeded"),
        (S.AUTHORIZED, S.CAPTURED, "payment.succeeded"),
        (S.PENDING, S.DECLINED, "payment.failed"),
        (S.PENDING, S.FAILED, "payment.failed"),
        (S.AUTHORIZED, S.CANCELED, "payment.canceled"),
        (S.REQUIRES_CONFIRMATION, S.CANCELED, "payment.canceled"),
    ],
)
def test_each_outcome_has_its_event(before: S, after: S, expected: str) -> None:
    amount_captured = Money(1000 if after is S.CAPTURED else 0, "USD")
    old = payment(before)
    new = dataclasses.replace(old, state=after, amount_captured=amount_captured)
    assert types(old, new) == [expected]


def test_changes_that_are_not_state_changes_are_not_events() -> None:
    authorized = payment(S.AUTHORIZED)
    in_flight = dataclasses.replace(authorized, operation_in_flight="capture")
    described = dataclasses.replace(authorized, description="new", metadata={"k": "v"})
    assert types(authorized, in_flight) == []
    assert types(in_flight, authorized) == []  # a refused capture: the marker clears
    assert types(authorized, described) == []
    assert types(payment(), payment(S.PENDING, operation_in_flight="authorize")) == []


def test_a_refund_is_created_then_settles_and_the_payment_state_rides_along() -> None:
    before = captured()
    pending = dataclasses.replace(before, refunds=(refund(),), operation_in_flight="refund")
    done = dataclasses.replace(
        pending,
        state=S.PARTIALLY_REFUNDED,
        amount_refunded=Money(400, "USD"),
        refunds=(refund(RefundState.SUCCEEDED),),
        operation_in_flight="",
    )
    failed = dataclasses.replace(pending, refunds=(refund(RefundState.FAILED),))

    created = derive_events(before, pending)
    assert [(d.type, d.resource_type, d.resource_id) for d in created] == [
        ("refund.created", "refund", "re_1")
    ]
    assert types(pending, done) == ["refund.succeeded"]
    assert types(pending, failed) == ["refund.failed"]
    assert derive_events(pending, done)[0].payment is done  # the snapshot is the "after"


def test_an_admins_rejection_of_a_held_refund_is_refund_rejected_not_refund_failed() -> None:
    in_review = captured(refunds=(refund(RefundState.PENDING_REVIEW),))
    rejected = dataclasses.replace(in_review, refunds=(refund(RefundState.REJECTED),))

    assert types(in_review, rejected) == ["refund.rejected"]
    assert "refund.rejected" in EVENT_TYPES  # endpoints may subscribe to it


def test_states_added_later_produce_events_without_more_wiring() -> None:
    # Stand-ins for states other branches are adding (the risk REVIEW hold,
    # refund review): derivation goes by the stored value, so it needs no
    # change to emit them, and an unnamed state still reaches the merchant.
    class NewPaymentState(enum.Enum):
        REQUIRES_REVIEW = "requires_review"
        SOMETHING_NEW = "something_new"

    class NewRefundState(enum.Enum):
        PENDING_REVIEW = "pending_review"
        SOMETHING_NEW = "something_new"

    before = captured()
    held = dataclasses.replace(payment(S.PENDING), state=NewPaymentState.REQUIRES_REVIEW)  # type: ignore[arg-type]
    odd = dataclasses.replace(payment(S.PENDING), state=NewPaymentState.SOMETHING_NEW)  # type: ignore[arg-type]
    in_review = dataclasses.replace(
        before,
        refunds=(dataclasses.replace(refund(), state=NewRefundState.PENDING_REVIEW),),  # type: ignore[arg-type]
    )
    odd_refund = dataclasses.replace(
        in_review,
        refunds=(dataclasses.replace(refund(), state=NewRefundState.SOMETHING_NEW),),  # type: ignore[arg-type]
    )

    assert types(payment(S.PENDING), held) == ["payment.requires_review"]
    assert types(payment(S.PENDING), odd) == ["payment.updated"]
    assert types(before, in_review) == ["refund.created", "refund.requires_review"]
    assert types(in_review, odd_refund) == ["refund.updated"]


def test_every_derivable_type_is_a_known_event_type() -> None:
    assert {"payment.created", "payment.succeeded", "refund.succeeded"} <= set(EVENT_TYPES)
    assert "payment.updated" in EVENT_TYPES and "refund.updated" in EVENT_TYPES


def test_the_default_schedule_spans_about_a_day_then_dead_letters() -> None:
    delays = parse_schedule(Settings().webhook_retry_schedule)
    assert 20 * 3600 <= sum(delays) <= 26 * 3600
    assert retry_delay(delays, 1) == 60.0
    assert retry_delay(delays, len(delays)) == 6 * 3600.0
    assert retry_delay(delays, len(delays) + 1) is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("30s", 30.0), ("5m", 300.0), ("6h", 21600.0)]
)
def test_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "1d", "-1s", "m5"])
def test_bad_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)
