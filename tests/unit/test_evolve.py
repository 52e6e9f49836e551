"""``evolve`` makes the same values ``dataclasses.replace`` makes, checked the same way."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from core.domain.evolve import evolve
from core.domain.money import Money
from core.domain.payment import (
    CardSummary,
    Payment,
    PaymentState,
    RoutingRecord,
)
from tests.support.payments import domain_payment

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _payment() -> Payment:
    return domain_payment(
        merchant_id="m",
        amount=Money(1000, "EUR"),
        card=CardSummary("visa", "424242", "4242", 12, 2030, "f" * 32),
        created_at=AT,
        updated_at=AT,
        metadata={"order": "7"},
    )


def test_evolve_equals_replace() -> None:
    payment = _payment()
    changes = {
        "state": PaymentState.PENDING,
        "channel": "sim",
        "routing": RoutingRecord(("sim",), ()),
    }
    assert evolve(payment, **changes) == dataclasses.replace(payment, **changes)  # type: ignore[arg-type]
    assert evolve(payment) == payment
    assert evolve(payment) is not payment


def test_evolve_leaves_the_original_alone() -> None:
    payment = _payment()
    evolve(payment, state=PaymentState.CANCELED)
    assert payment.state is PaymentState.REQUIRES_CONFIRMATION


def test_evolve_runs_the_class_checks() -> None:
    with pytest.raises(ValueError, match="refunded <= captured <= amount"):
        evolve(_payment(), amount_captured=Money(2000, "EUR"))
    with pytest.raises(ValueError, match="share its currency"):
        evolve(_payment(), amount_refunded=Money(0, "USD"))


def test_evolve_freezes_new_metadata() -> None:
    metadata = {"a": "1"}
    evolved = evolve(_payment(), metadata=metadata)
    metadata["a"] = "2"
    assert evolved.metadata == {"a": "1"}


def test_evolve_refuses_unknown_fields_and_unslotted_classes() -> None:
    with pytest.raises(AttributeError):
        evolve(_payment(), no_such_field=1)

    @dataclasses.dataclass(frozen=True)
    class Plain:
        x: int

    with pytest.raises(TypeError):
        evolve(Plain(1), x=2)


def test_evolve_of_a_one_field_class() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class One:
        x: int

    assert evolve(One(1)) == One(1)
    assert evolve(One(1), x=2) == One(2)
