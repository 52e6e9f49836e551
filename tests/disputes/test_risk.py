"""A lost dispute counts against the card, customer and email in the risk features (e2e).

Real PostgreSQL and Redis: the dispute is lost through the channel's signed
notice or AcceptDispute, and the next payment is scored by the shipped rules
(riskengine/default_rules.toml: ``lost_dispute_*``).
"""

from __future__ import annotations

from datetime import timedelta

from paycore.v1 import customer_service_pb2 as cs
from paycore.v1 import customer_service_pb2_grpc
from paycore.v1 import dispute_service_pb2 as dsvc
from paycore.v1 import payment_pb2 as pb
from tests.disputes.conftest import DisputeStack
from tests.support.requests import MASTERCARD, VISA, card, new_request_id

Decision = pb.RiskAssessment.Decision


async def _accept(stack: DisputeStack, payment: pb.Payment) -> None:
    assert await stack.notify(payment) == (200, "[accepted]")
    (dispute,) = await stack.disputes_of(payment.id)
    await stack.disputes.AcceptDispute(
        dsvc.AcceptDisputeRequest(request_id=new_request_id(), dispute_id=dispute.id),
        metadata=stack.metadata,
    )


async def test_a_card_that_lost_a_dispute_is_held_for_review_on_its_next_payment(
    stack: DisputeStack,
) -> None:
    api = stack.served.api
    first = await api.captured(payment_method=card(MASTERCARD))
    before = await api.captured(payment_method=card(MASTERCARD))
    assert before.state == pb.Payment.STATE_CAPTURED  # the card alone is not suspicious

    await _accept(stack, first)

    after = await api.create(payment_method=card(MASTERCARD))
    assert after.state == pb.Payment.STATE_REQUIRES_REVIEW
    assert after.risk.decision == Decision.DECISION_REVIEW
    assert "lost_dispute_card" in after.risk.reasons
    assert after.risk.score > before.risk.score
    # Another card of the merchant is not touched by it.
    other = await api.create(payment_method=card(VISA))
    assert other.state == pb.Payment.STATE_CAPTURED


async def test_a_second_lost_dispute_on_the_card_declines_it(stack: DisputeStack) -> None:
    api = stack.served.api
    paid = [await api.captured(payment_method=card(MASTERCARD)) for _ in range(2)]
    for payment in paid:
        await _accept(stack, payment)

    after = await api.create(payment_method=card(MASTERCARD))

    assert after.state == pb.Payment.STATE_DECLINED
    assert after.risk.decision == Decision.DECISION_DECLINE
    assert "lost_disputes_card_block" in after.risk.reasons


async def test_a_lost_verdict_counts_against_the_customer_and_the_stored_email(
    stack: DisputeStack,
) -> None:
    api = stack.served.api
    customers = customer_service_pb2_grpc.CustomerServiceStub(stack.channel)
    email = f"{new_request_id()[:12]}@example.com"
    customer = (
        await customers.CreateCustomer(
            cs.CreateCustomerRequest(request_id=new_request_id(), email=email),
            metadata=stack.metadata,
        )
    ).customer
    disputed = await api.captured(payment_method=card(MASTERCARD), customer_id=customer.id)
    assert await stack.notify(disputed) == (200, "[accepted]")
    assert await stack.notify(disputed, "lost") == (200, "[accepted]")

    # The same customer with another card: held.
    same_customer = await api.create(payment_method=card(VISA), customer_id=customer.id)
    assert same_customer.state == pb.Payment.STATE_REQUIRES_REVIEW
    assert "lost_dispute_customer" in same_customer.risk.reasons
    # A guest checkout with the customer's email and another card: scored higher, not held.
    guest = await api.create(
        payment_method=card(VISA), risk_context=pb.RiskContext(customer_email=email)
    )
    assert "lost_dispute_email" in guest.risk.reasons
    assert guest.state == pb.Payment.STATE_CAPTURED


async def test_a_won_dispute_counts_against_no_one(stack: DisputeStack) -> None:
    api = stack.served.api
    payment = await api.captured(payment_method=card(MASTERCARD))
    assert await stack.notify(payment) == (200, "[accepted]")
    assert await stack.notify(payment, "won") == (200, "[accepted]")

    after = await api.create(payment_method=card(MASTERCARD))

    assert after.state == pb.Payment.STATE_CAPTURED
    assert not [r for r in after.risk.reasons if "lost_dispute" in r]


async def test_a_dispute_lost_by_its_due_date_counts_against_the_card(
    stack: DisputeStack,
) -> None:
    api = stack.served.api
    payment = await api.captured(payment_method=card(MASTERCARD))
    assert await stack.notify(payment, due_in=timedelta(seconds=-1)) == (200, "[accepted]")
    assert stack.served.services.disputes is not None

    await stack.served.services.disputes.deadlines.run_once()

    after = await api.create(payment_method=card(MASTERCARD))
    assert after.state == pb.Payment.STATE_REQUIRES_REVIEW
    assert "lost_dispute_card" in after.risk.reasons
