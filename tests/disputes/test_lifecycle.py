"""Disputes end to end: the channel's signed notices, the merchant's answers, the ledger, events.

Real PostgreSQL and Redis, the real callbacks ingress over HTTP and the real
gRPC DisputeService; balances are read back through AccountService.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from core.domain.disputes import DISPUTE_EVENT_TYPES, Evidence
from core.events.relay import WebhookRelay
from core.events.snapshot import event_to_proto
from core.storage.events import event_from_row
from paycore.v1 import dispute_pb2 as dpb
from paycore.v1 import dispute_service_pb2 as dsvc
from paycore.v1 import webhook_service_pb2_grpc
from tests.disputes.conftest import DisputeStack
from tests.ledger.invariants import assert_ledger_consistent
from tests.support.expect import expect_error
from tests.support.polling import eventually
from tests.support.requests import new_request_id, usd
from tests.support.webhooks import FAST, Receiver, create_endpoint

D = dpb.Dispute
PENDING = "merchant_pending.USD"
HELD = "dispute.USD"
FEE = 1500
EVIDENCE = dsvc.Evidence(
    product_description="A blue teapot, delivered.",
    shipping_details="Tracking 1Z999, signed for on 2026-11-30.",
    attachments=[
        dsvc.EvidenceAttachment(
            file_name="receipt.pdf", content_type="application/pdf", content=b"%PDF receipt"
        )
    ],
)


async def _events(stack: DisputeStack, dispute_id: str) -> list[tuple[str, dpb.Dispute]]:
    rows = await stack.served.services.pool.fetch(
        "SELECT * FROM events WHERE merchant_id = $1 AND resource_id = $2 ORDER BY sequence",
        stack.served.api.merchant_id,
        dispute_id,
    )
    return [(e.type, e.dispute) for e in (event_to_proto(event_from_row(r)) for r in rows)]


async def test_open_then_evidence_then_won_returns_the_amount_and_keeps_the_fee(
    stack: DisputeStack,
) -> None:
    payment = await stack.served.api.captured(amount=usd(100))
    before = await stack.balance(PENDING)

    assert await stack.notify(payment) == (200, "[accepted]")

    (dispute,) = await stack.disputes_of(payment.id)
    assert (dispute.state, dispute.kind) == (D.STATE_NEEDS_RESPONSE, D.KIND_CHARGEBACK)
    assert (dispute.amount, dispute.fee) == (usd(100), usd(15))
    assert dispute.channel == stack.acquirer.name and dispute.reason == "fraudulent"
    assert await stack.balance(PENDING) == before - 10_000 - FEE
    assert await stack.balance(HELD) == 10_000

    submitted = await stack.disputes.SubmitEvidence(
        dsvc.SubmitEvidenceRequest(
            request_id=new_request_id(), dispute_id=dispute.id, evidence=EVIDENCE
        ),
        metadata=stack.metadata,
    )
    assert submitted.dispute.state == D.STATE_UNDER_REVIEW
    assert submitted.dispute.evidence_submitted
    sealed = await stack.served.services.pool.fetchval(
        "SELECT sealed FROM dispute_evidence WHERE dispute_id = $1", dispute.id
    )
    assert sealed.startswith("sealed1.") and "teapot" not in sealed  # stored encrypted
    handed = stack.acquirer.evidence[dispute.channel_reference]  # and given to the channel
    assert dict(handed.texts)["product_description"] == "A blue teapot, delivered."
    assert [a.content for a in handed.attachments] == [b"%PDF receipt"]

    assert await stack.notify(payment, "won") == (200, "[accepted]")

    got = await stack.disputes.GetDispute(
        dsvc.GetDisputeRequest(dispute_id=dispute.id), metadata=stack.metadata
    )
    assert got.dispute.state == D.STATE_WON
    assert await stack.balance(PENDING) == before - FEE  # the amount is back, the fee is not
    assert await stack.balance(HELD) == 0
    events = await _events(stack, dispute.id)
    assert [t for t, _ in events] == ["dispute.created", "dispute.updated", "dispute.closed"]
    assert [d.state for _, d in events] == [
        D.STATE_NEEDS_RESPONSE,
        D.STATE_UNDER_REVIEW,
        D.STATE_WON,
    ]
    await assert_ledger_consistent(stack.served.services.pool, stack.served.api.merchant_id)


async def test_open_then_accept_is_lost_for_good_and_refunds_are_refused(
    stack: DisputeStack,
) -> None:
    payment = await stack.served.api.captured(amount=usd(40))
    clearing = f"clearing.{stack.acquirer.name}.USD"
    assert await stack.notify(payment, amount=2_500) == (200, "[accepted]")
    (dispute,) = await stack.disputes_of(payment.id)
    assert dispute.amount == usd(25)
    clearing_before = await stack.balance(clearing)

    accepted = await stack.disputes.AcceptDispute(
        dsvc.AcceptDisputeRequest(request_id=new_request_id(), dispute_id=dispute.id),
        metadata=stack.metadata,
    )

    assert accepted.dispute.state == D.STATE_LOST
    assert await stack.balance(HELD) == 0
    assert await stack.balance(clearing) == clearing_before + 2_500  # paid back to the channel
    # A late verdict from the channel changes nothing: lost is final.
    assert await stack.notify(payment, "won") == (200, "[accepted]")
    (still,) = await stack.disputes_of(payment.id)
    assert still.state == D.STATE_LOST
    await expect_error(
        stack.served.api.refund(payment.id, usd(5)),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_DISPUTED",
    )
    assert [t for t, _ in await _events(stack, dispute.id)] == [
        "dispute.created",
        "dispute.closed",
    ]
    await assert_ledger_consistent(stack.served.services.pool, stack.served.api.merchant_id)


async def test_the_same_notice_twice_and_a_verdict_before_the_opening_are_safe(
    stack: DisputeStack,
) -> None:
    payment = await stack.served.api.captured(amount=usd(30))
    assert await stack.notify(payment, event_id="evt_same") == (200, "[accepted]")
    assert await stack.notify(payment, event_id="evt_same") == (200, "[accepted]")
    assert await stack.notify(payment, reference="ch_dp_again", event_id="x") == (
        200,
        "[accepted]",
    )
    # The first dispute took all of the payment: the second has nothing left, ignored.
    (dispute,) = await stack.disputes_of(payment.id)
    assert [t for t, _ in await _events(stack, dispute.id)] == ["dispute.created"]

    other = await stack.served.api.captured(amount=usd(20))
    assert await stack.notify(other, "lost") == (200, "[accepted]")  # the opening never came
    (lost,) = await stack.disputes_of(other.id)
    assert lost.state == D.STATE_LOST
    assert [t for t, _ in await _events(stack, lost.id)] == ["dispute.created", "dispute.closed"]
    await assert_ledger_consistent(stack.served.services.pool, stack.served.api.merchant_id)


async def test_a_fully_refunded_payment_is_not_disputed_the_notice_is_acknowledged(
    stack: DisputeStack,
) -> None:
    payment = await stack.served.api.captured(amount=usd(10))
    await stack.served.api.refund(payment.id)

    assert await stack.notify(payment) == (200, "[accepted]")

    assert await stack.disputes_of(payment.id) == []
    outcome = await stack.served.services.pool.fetchval(
        "SELECT outcome FROM dispute_notices WHERE payment_id = $1", payment.id
    )
    assert outcome == "ignored"


async def test_an_inquiry_moves_no_money_and_closes(stack: DisputeStack) -> None:
    payment = await stack.served.api.captured(amount=usd(12))
    before = await stack.balance(PENDING)
    assert await stack.notify(payment, kind="inquiry") == (200, "[accepted]")
    (inquiry,) = await stack.disputes_of(payment.id)
    assert (inquiry.kind, inquiry.fee) == (D.KIND_INQUIRY, usd(0))
    assert await stack.balance(PENDING) == before

    assert await stack.notify(payment, "closed", kind="inquiry") == (200, "[accepted]")

    (closed,) = await stack.disputes_of(payment.id)
    assert closed.state == D.STATE_CLOSED
    assert await stack.balance(PENDING) == before
    await stack.served.api.refund(payment.id, usd(2))  # a closed inquiry holds nothing


async def test_an_inquiry_that_becomes_a_chargeback_withdraws_then(stack: DisputeStack) -> None:
    payment = await stack.served.api.captured(amount=usd(15))
    before = await stack.balance(PENDING)
    assert await stack.notify(payment, kind="inquiry") == (200, "[accepted]")
    assert await stack.balance(PENDING) == before

    assert await stack.notify(payment) == (200, "[accepted]")  # the same dispute, escalated

    (dispute,) = await stack.disputes_of(payment.id)
    assert (dispute.kind, dispute.state, dispute.fee) == (
        D.KIND_CHARGEBACK,
        D.STATE_NEEDS_RESPONSE,
        usd(15),
    )
    assert await stack.balance(PENDING) == before - 1_500 - FEE
    assert [t for t, _ in await _events(stack, dispute.id)] == [
        "dispute.created",
        "dispute.updated",
    ]
    await assert_ledger_consistent(stack.served.services.pool, stack.served.api.merchant_id)


async def test_every_step_reaches_a_subscribed_webhook_as_json(stack: DisputeStack) -> None:
    receiver = Receiver()
    await receiver.start()
    webhooks = webhook_service_pb2_grpc.WebhookServiceStub(stack.channel)
    await create_endpoint(webhooks, stack.metadata, receiver.url, list(DISPUTE_EVENT_TYPES))
    assert stack.served.services.notifications is not None
    relay = WebhookRelay(stack.served.services.notifications.deliveries, FAST)
    await relay.start()
    try:
        payment = await stack.served.api.captured(amount=usd(10))
        assert await stack.notify(payment) == (200, "[accepted]")
        (dispute,) = await stack.disputes_of(payment.id)
        evidence = dsvc.SubmitEvidenceRequest(
            request_id=new_request_id(), dispute_id=dispute.id, evidence=EVIDENCE
        )
        await stack.disputes.SubmitEvidence(evidence, metadata=stack.metadata)
        assert await stack.notify(payment, "lost") == (200, "[accepted]")

        await eventually(lambda: len(receiver.delivered()) == 3, what="three deliveries")
        bodies = [json.loads(r.body) for r in receiver.received]
        assert [(b["type"], b["dispute"]["state"]) for b in bodies] == [
            ("dispute.created", "STATE_NEEDS_RESPONSE"),
            ("dispute.updated", "STATE_UNDER_REVIEW"),
            ("dispute.closed", "STATE_LOST"),
        ]
        assert {b["dispute"]["id"] for b in bodies} == {dispute.id}
        assert all("payment" not in b for b in bodies)  # a dispute event carries the dispute
    finally:
        await asyncio.wait_for(relay.stop(grace_s=0.5), timeout=20)
        await receiver.stop()


async def test_a_due_date_passed_unanswered_closes_the_dispute_as_lost(
    stack: DisputeStack,
) -> None:
    late = await stack.served.api.captured(amount=usd(20))
    answered = await stack.served.api.captured(amount=usd(21))
    ahead = await stack.served.api.captured(amount=usd(22))
    past = timedelta(seconds=-1)
    assert await stack.notify(late, due_in=past) == (200, "[accepted]")
    assert await stack.notify(answered, due_in=past) == (200, "[accepted]")
    assert await stack.notify(ahead) == (200, "[accepted]")
    (reviewed,) = await stack.disputes_of(answered.id)
    evidence = dsvc.SubmitEvidenceRequest(
        request_id=new_request_id(), dispute_id=reviewed.id, evidence=EVIDENCE
    )
    await stack.disputes.SubmitEvidence(evidence, metadata=stack.metadata)
    clearing = f"clearing.{stack.acquirer.name}.USD"
    clearing_before = await stack.balance(clearing)
    assert stack.served.services.disputes is not None

    await stack.served.services.disputes.deadlines.run_once()

    (lost,) = await stack.disputes_of(late.id)
    assert lost.state == D.STATE_LOST
    assert [t for t, _ in await _events(stack, lost.id)] == ["dispute.created", "dispute.closed"]
    assert await stack.balance(clearing) == clearing_before + 2_000  # paid to the channel
    assert [d.state for d in await stack.disputes_of(answered.id)] == [D.STATE_UNDER_REVIEW]
    assert [d.state for d in await stack.disputes_of(ahead.id)] == [D.STATE_NEEDS_RESPONSE]
    await assert_ledger_consistent(stack.served.services.pool, stack.served.api.merchant_id)


async def test_notices_racing_each_other_open_and_decide_the_dispute_once(
    stack: DisputeStack,
) -> None:
    payment = await stack.served.api.captured(amount=usd(50))
    before = await stack.balance(PENDING)

    answers = await asyncio.gather(
        *(stack.notify(payment, event_id=f"evt_open_{n}") for n in range(3)),
        *(stack.notify(payment, "won", event_id=f"evt_won_{n}") for n in range(3)),
        stack.notify(payment, event_id="evt_open_0"),  # a redelivery
    )

    assert set(answers) == {(200, "[accepted]")}
    (dispute,) = await stack.disputes_of(payment.id)
    assert dispute.state == D.STATE_WON
    assert [t for t, _ in await _events(stack, dispute.id)][-1] == "dispute.closed"
    assert await stack.balance(PENDING) == before - FEE  # opened once, returned once
    await assert_ledger_consistent(stack.served.services.pool, stack.served.api.merchant_id)


async def test_evidence_the_channel_did_not_take_is_sent_again_by_the_job(
    stack: DisputeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = await stack.served.api.captured(amount=usd(10))
    assert await stack.notify(payment) == (200, "[accepted]")
    (dispute,) = await stack.disputes_of(payment.id)
    taken = stack.acquirer.send_dispute_evidence
    tries: list[str] = []

    async def away_once(reference: str, evidence: Evidence) -> None:
        tries.append(reference)
        if len(tries) == 1:
            raise ConnectionResetError("the channel went away")
        await taken(reference, evidence)

    monkeypatch.setattr(stack.acquirer, "send_dispute_evidence", away_once)
    request = dsvc.SubmitEvidenceRequest(
        request_id=new_request_id(), dispute_id=dispute.id, evidence=EVIDENCE
    )
    submitted = await stack.disputes.SubmitEvidence(request, metadata=stack.metadata)
    assert submitted.dispute.state == D.STATE_UNDER_REVIEW  # committed, whatever the channel did
    assert dispute.channel_reference not in stack.acquirer.evidence
    assert stack.served.services.disputes is not None
    service = stack.served.services.disputes.service
    later = datetime.now(UTC) + timedelta(seconds=1)

    assert await service.resend_evidence(later, 50) == 1

    handed = stack.acquirer.evidence[dispute.channel_reference]
    assert dict(handed.texts)["shipping_details"].startswith("Tracking 1Z999")
    assert await service.resend_evidence(later, 50) == 0  # taken: not sent a third time
    assert tries == [dispute.channel_reference] * 2
