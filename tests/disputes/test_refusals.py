"""What disputes refuse: bad input changes nothing; refunds and disputes stay within the capture."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import grpc

from paycore.v1 import dispute_pb2 as dpb
from paycore.v1 import dispute_service_pb2 as dsvc
from paycore.v1 import merchant_settings_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from tests.disputes.conftest import DisputeStack
from tests.e2e.back_office import BackOffice, held
from tests.ledger.invariants import assert_ledger_consistent
from tests.support.auth import Metadata, merchant_metadata
from tests.support.expect import error_info, expect_error, expect_invalid
from tests.support.requests import cents, new_merchant_id, new_request_id, usd

D = dpb.Dispute
UNKNOWN = "dp_01JD0Z8W7X6V5T4S3R2Q1P0N9M"


async def _opened(stack: DisputeStack, dollars: int = 10) -> dpb.Dispute:
    payment = await stack.served.api.captured(amount=usd(dollars))
    assert await stack.notify(payment) == (200, "[accepted]")
    (dispute,) = await stack.disputes_of(payment.id)
    return dispute


async def _get(stack: DisputeStack, dispute_id: str) -> dpb.Dispute:
    request = dsvc.GetDisputeRequest(dispute_id=dispute_id)
    return (await stack.disputes.GetDispute(request, metadata=stack.metadata)).dispute


async def test_an_unknown_dispute_is_not_found_for_every_rpc(stack: DisputeStack) -> None:
    meta = stack.metadata
    await expect_error(
        stack.disputes.GetDispute(dsvc.GetDisputeRequest(dispute_id=UNKNOWN), metadata=meta),
        grpc.StatusCode.NOT_FOUND,
        "DISPUTE_NOT_FOUND",
    )
    accept = dsvc.AcceptDisputeRequest(request_id=new_request_id(), dispute_id=UNKNOWN)
    await expect_error(
        stack.disputes.AcceptDispute(accept, metadata=meta),
        grpc.StatusCode.NOT_FOUND,
        "DISPUTE_NOT_FOUND",
    )
    await expect_invalid(
        stack.disputes.GetDispute(dsvc.GetDisputeRequest(dispute_id="nope"), metadata=meta),
        "dispute_id",
    )


async def test_evidence_too_large_or_empty_is_refused_and_changes_nothing(
    stack: DisputeStack,
) -> None:
    dispute = await _opened(stack)
    big = dsvc.EvidenceAttachment(
        file_name="scan.png", content_type="image/png", content=b"x" * (256 * 1024 + 1)
    )
    too_large = dsvc.SubmitEvidenceRequest(
        request_id=new_request_id(),
        dispute_id=dispute.id,
        evidence=dsvc.Evidence(uncategorized_text="y" * 20_001, attachments=[big]),
    )
    await expect_invalid(
        stack.disputes.SubmitEvidence(too_large, metadata=stack.metadata),
        "evidence.uncategorized_text",
        "evidence.attachments[0].content",
    )
    empty = dsvc.SubmitEvidenceRequest(request_id=new_request_id(), dispute_id=dispute.id)
    await expect_invalid(stack.disputes.SubmitEvidence(empty, metadata=stack.metadata), "evidence")

    assert await _get(stack, dispute.id) == dispute
    stored = await stack.served.services.pool.fetchval(
        "SELECT count(*) FROM dispute_evidence WHERE dispute_id = $1", dispute.id
    )
    assert stored == 0


async def test_answering_a_decided_dispute_is_refused_and_changes_nothing(
    stack: DisputeStack,
) -> None:
    dispute = await _opened(stack)
    accept = dsvc.AcceptDisputeRequest(request_id=new_request_id(), dispute_id=dispute.id)
    lost = (await stack.disputes.AcceptDispute(accept, metadata=stack.metadata)).dispute
    held = await stack.balance("dispute.USD")

    again = dsvc.AcceptDisputeRequest(request_id=new_request_id(), dispute_id=dispute.id)
    error = await expect_error(
        stack.disputes.AcceptDispute(again, metadata=stack.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "DISPUTE_NOT_RESPONDABLE",
    )
    assert error_info(error).metadata["state"] == "LOST"
    evidence = dsvc.SubmitEvidenceRequest(
        request_id=new_request_id(),
        dispute_id=dispute.id,
        evidence=dsvc.Evidence(product_description="too late"),
    )
    await expect_error(
        stack.disputes.SubmitEvidence(evidence, metadata=stack.metadata),
        grpc.StatusCode.FAILED_PRECONDITION,
        "DISPUTE_NOT_RESPONDABLE",
    )
    assert await _get(stack, dispute.id) == lost
    assert await stack.balance("dispute.USD") == held
    # The first request_id again replays its stored reply (the request engine).
    replay = await stack.disputes.AcceptDispute(accept, metadata=stack.metadata)
    assert replay.dispute == lost


async def test_notices_with_a_bad_signature_or_an_unknown_charge_change_nothing(
    stack: DisputeStack,
) -> None:
    payment = await stack.served.api.captured(amount=usd(10))
    assert await stack.notify(payment, secret=b"wrong") == (401, "bad signature")
    assert await stack.notify(payment, attempt_id="att_01JD0Z8W7X6V5T4S3R2Q1P0N9M") == (
        404,
        "unknown payment",
    )
    assert await stack.disputes_of(payment.id) == []


async def test_another_merchants_dispute_is_not_found(stack: DisputeStack) -> None:
    dispute = await _opened(stack)
    other = await merchant_metadata(stack.served.services.pool, new_merchant_id())
    await expect_error(
        stack.disputes.GetDispute(dsvc.GetDisputeRequest(dispute_id=dispute.id), metadata=other),
        grpc.StatusCode.NOT_FOUND,
        "DISPUTE_NOT_FOUND",
    )


async def test_list_disputes_pages_newest_first_with_filters(stack: DisputeStack) -> None:
    made = [await _opened(stack) for _ in range(3)]
    request = dsvc.ListDisputesRequest(page_size=2, states=[D.STATE_NEEDS_RESPONSE])
    first = await stack.disputes.ListDisputes(request, metadata=stack.metadata)
    assert [d.id for d in first.disputes] == [made[2].id, made[1].id]
    request.page_token = first.next_page_token
    second = await stack.disputes.ListDisputes(request, metadata=stack.metadata)
    assert [d.id for d in second.disputes] == [made[0].id]
    assert second.next_page_token == ""
    other_filters = dsvc.ListDisputesRequest(page_token=first.next_page_token)
    await expect_invalid(
        stack.disputes.ListDisputes(other_filters, metadata=stack.metadata),
        "page_token",
        reason="INVALID_PAGE_TOKEN",
    )
    won_only = dsvc.ListDisputesRequest(states=[D.STATE_WON])
    assert not (await stack.disputes.ListDisputes(won_only, metadata=stack.metadata)).disputes


async def _refund(stack: DisputeStack, payment: pb.Payment, dollars: int) -> None:
    try:
        await stack.served.api.refund(payment.id, usd(dollars))
    except grpc.aio.AioRpcError as error:
        # PAYMENT_OPERATION_IN_PROGRESS: another refund of the payment is at the channel.
        assert error_info(error).reason in (
            "PAYMENT_DISPUTED",
            "REFUND_EXCEEDS_CAPTURED",
            "PAYMENT_OPERATION_IN_PROGRESS",
        )


async def _dispute(stack: DisputeStack, payment: pb.Payment, n: int) -> None:
    status = await stack.notify(payment, amount=4_000, reference=f"race_{payment.id}_{n}")
    assert status == (200, "[accepted]")


async def test_concurrent_refunds_and_disputes_never_exceed_the_capture(
    stack: DisputeStack,
) -> None:
    api = stack.served.api
    for _ in range(3):
        payment = await api.captured(amount=usd(100))

        await asyncio.gather(
            *(_refund(stack, payment, 30) for _ in range(3)),
            *(_dispute(stack, payment, n) for n in range(3)),
            _refund(stack, payment, 25),
        )

        refunded = cents((await api.get(payment.id)).amount_refunded)
        disputed = sum(cents(d.amount) for d in await stack.disputes_of(payment.id))
        assert refunded + disputed <= 10_000, (refunded, disputed)
        assert refunded + disputed > 0
    await assert_ledger_consistent(stack.served.services.pool, api.merchant_id)


async def test_a_held_refund_cannot_be_approved_while_a_dispute_is_open(
    stack: DisputeStack, admin_metadata_of: Callable[[str], Awaitable[Metadata]]
) -> None:
    api = stack.served.api
    admin = BackOffice(
        api.stub,
        merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub(stack.channel),
        await admin_metadata_of(api.merchant_id),
    )
    payment, refund = await held(api, admin, amount=80)  # 100.00 captured, 80.00 reserved
    assert await stack.notify(payment, amount=10_000) == (200, "[accepted]")
    (dispute,) = await stack.disputes_of(payment.id)
    assert dispute.amount == usd(20)  # what the held refund left

    await expect_error(
        admin.approve(refund.id, request_id=new_request_id()),
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_DISPUTED",
    )
    still = await admin.refunds(payment_id=payment.id)
    assert [r.state for r in still.refunds] == [pb.Refund.STATE_PENDING_REVIEW]
    await admin.reject(refund.id, request_id=new_request_id())  # rejecting needs no channel
