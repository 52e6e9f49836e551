"""The payment shows its disputes (GetPayment, ListPayments) without leaving its lifecycle.

Real PostgreSQL: the disputes are opened and decided by the channel's signed notices.
"""

from __future__ import annotations

from paycore.v1 import dispute_pb2 as dpb
from paycore.v1 import payment_pb2 as pb
from tests.disputes.conftest import DisputeStack
from tests.support.requests import cents, usd

D = dpb.Dispute


def _shown(payment: pb.Payment) -> list[tuple[str, int, int]]:
    return [(d.dispute_id, d.state, cents(d.amount)) for d in payment.disputes]


async def test_get_and_list_show_a_payments_disputes_and_its_state_stays_captured(
    stack: DisputeStack,
) -> None:
    api = stack.served.api
    payment = await api.captured(amount=usd(40))
    untouched = await api.captured(amount=usd(10))
    assert _shown(await api.get(payment.id)) == []

    assert await stack.notify(payment, amount=1_500, reference=f"first_{payment.id}") == (
        200,
        "[accepted]",
    )
    (first,) = await stack.disputes_of(payment.id)
    shown = await api.get(payment.id)

    assert shown.state == pb.Payment.STATE_CAPTURED
    assert _shown(shown) == [(first.id, D.STATE_NEEDS_RESPONSE, 1_500)]

    # Won, then a second dispute of the rest: both shown, oldest first.
    assert await stack.notify(payment, "won", reference=f"first_{payment.id}") == (
        200,
        "[accepted]",
    )
    assert await stack.notify(payment, amount=1_000, reference=f"second_{payment.id}") == (
        200,
        "[accepted]",
    )
    second = next(d for d in await stack.disputes_of(payment.id) if d.id != first.id)
    listed = {p.id: p for p in await api.list_all()}

    expected = [(first.id, D.STATE_WON, 1_500), (second.id, D.STATE_NEEDS_RESPONSE, 1_000)]
    assert _shown(listed[payment.id]) == expected
    assert _shown(await api.get(payment.id)) == expected
    assert listed[payment.id].state == pb.Payment.STATE_CAPTURED
    assert _shown(listed[untouched.id]) == []


async def test_a_won_dispute_stays_shown_on_a_payment_refunded_afterwards(
    stack: DisputeStack,
) -> None:
    api = stack.served.api
    payment = await api.captured(amount=usd(40))
    assert await stack.notify(payment, amount=1_500) == (200, "[accepted]")
    assert await stack.notify(payment, "won") == (200, "[accepted]")

    refunded = (await api.refund(payment.id, usd(5))).payment

    assert refunded.state == pb.Payment.STATE_PARTIALLY_REFUNDED
    assert [d.state for d in refunded.disputes] == [D.STATE_WON]
