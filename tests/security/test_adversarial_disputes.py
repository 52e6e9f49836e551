"""Adversarial DisputeService requests: valid up to one bad part, naming real disputes.

Each request names a real dispute of the merchant (or its payment), so it
passes the id checks and reaches the parts the random fuzzer seldom reaches:
evidence attachments, page tokens and rate windows. A client mistake is
answered INVALID_ARGUMENT (or NOT_FOUND, FAILED_PRECONDITION) with its
google.rpc details, never UNKNOWN or INTERNAL, and changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import ClientSession
from google.protobuf.timestamp_pb2 import Timestamp

from core.config import Settings
from paycore.v1 import dispute_pb2 as dpb
from paycore.v1 import dispute_service_pb2 as dsvc
from paycore.v1 import dispute_service_pb2_grpc
from router.signing import SIGNATURE_HEADER, sign
from tests.disputes.conftest import DisputeStack, dispute_stack
from tests.routing.conftest import CALLBACK_SECRET
from tests.support.auth import Metadata, merchant_metadata
from tests.support.expect import expect_invalid
from tests.support.requests import new_merchant_id, new_request_id, usd

INT64_MAX = 2**63 - 1


@pytest.fixture
async def stack(settings: Settings, tmp_path: Path) -> AsyncIterator[DisputeStack]:
    """A paycore of the test's own over an acquirer that notifies disputes."""
    async with dispute_stack(settings, tmp_path) as built:
        yield built


async def _opened(stack: DisputeStack) -> dpb.Dispute:
    payment = await stack.served.api.captured(amount=usd(10))
    assert await stack.notify(payment) == (200, "[accepted]")
    (dispute,) = await stack.disputes_of(payment.id)
    return dispute


def _evidence(dispute_id: str, *files: dsvc.EvidenceAttachment, **texts: str) -> Any:
    return dsvc.SubmitEvidenceRequest(
        request_id=new_request_id(),
        dispute_id=dispute_id,
        evidence=dsvc.Evidence(attachments=files, **texts),
    )


def _file(
    name: str = "receipt.pdf", kind: str = "application/pdf", content: bytes = b"%PDF"
) -> Any:
    return dsvc.EvidenceAttachment(file_name=name, content_type=kind, content=content)


async def test_odd_evidence_is_refused_naming_the_part_and_changes_nothing(
    stack: DisputeStack,
) -> None:
    dispute = await _opened(stack)
    cases: list[tuple[Any, str]] = [
        (_evidence(dispute.id, _file(name="")), "evidence.attachments[0].file_name"),
        (_evidence(dispute.id, _file(kind="")), "evidence.attachments[0].content_type"),
        (_evidence(dispute.id, _file(content=b"")), "evidence.attachments[0].content"),
        (_evidence(dispute.id, _file(kind="text/\x00")), "evidence.attachments[0].content_type"),
        (_evidence(dispute.id, _file(kind="pdf")), "evidence.attachments[0].content_type"),
        (_evidence(dispute.id, _file(kind="<script>/x")), "evidence.attachments[0].content_type"),
        (_evidence(dispute.id, uncategorized_text="nul \x00"), "evidence.uncategorized_text"),
        (_evidence(dispute.id, _file(), _file()), "evidence.attachments[1].file_name"),
        (_evidence(dispute.id, *[_file(f"f{i}") for i in range(6)]), "evidence.attachments"),
    ]
    for name in ["a\x00b", "../../etc/passwd", "c:\\boot.ini", "a\nb.pdf", "..", "x" * 201]:
        cases.append((_evidence(dispute.id, _file(name=name)), "evidence.attachments[0].file_name"))
    for request, field in cases:
        await expect_invalid(stack.disputes.SubmitEvidence(request, metadata=stack.metadata), field)
    got = await stack.disputes.GetDispute(
        dsvc.GetDisputeRequest(dispute_id=dispute.id), metadata=stack.metadata
    )
    assert got.dispute == dispute
    stored = await stack.served.services.pool.fetchval(
        "SELECT count(*) FROM dispute_evidence WHERE dispute_id = $1", dispute.id
    )
    assert stored == 0
    # Odd but valid: a unicode name, a media type with a +suffix, base64 text as content.
    fine = _file(name="reçu 2026 (1).pdf", kind="application/vnd.api+json", content=b"JVBERi0=")
    submitted = await stack.disputes.SubmitEvidence(
        _evidence(dispute.id, fine), metadata=stack.metadata
    )
    assert submitted.dispute.evidence_submitted


async def test_page_tokens_forged_or_from_elsewhere_are_invalid_page_tokens(
    stack: DisputeStack,
) -> None:
    for _ in range(2):
        await _opened(stack)
    first = await stack.disputes.ListDisputes(
        dsvc.ListDisputesRequest(page_size=1), metadata=stack.metadata
    )
    token = first.next_page_token
    assert token
    body, _, signature = token.partition(".")
    payments = await stack.served.api.list(page_size=1)
    forged = [
        "x",
        ".",
        token + "x",
        body + ".",
        "A" * 5000,
        body[::-1] + "." + signature,
        "\x00." + signature,
        payments.next_page_token or "bm90aGluZw.c2ln",
    ]
    for page_token in forged:
        request = dsvc.ListDisputesRequest(page_size=1, page_token=page_token)
        error = await expect_invalid(
            stack.disputes.ListDisputes(request, metadata=stack.metadata),
            "page_token",
            reason="INVALID_PAGE_TOKEN",
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The same token with other filters, or by another merchant: refused, not a wrong page.
    other = dsvc.ListDisputesRequest(page_size=1, page_token=token, states=[dpb.Dispute.STATE_WON])
    await expect_invalid(
        stack.disputes.ListDisputes(other, metadata=stack.metadata),
        "page_token",
        reason="INVALID_PAGE_TOKEN",
    )
    someone_else = await merchant_metadata(stack.served.services.pool, new_merchant_id())
    await expect_invalid(
        stack.disputes.ListDisputes(
            dsvc.ListDisputesRequest(page_size=1, page_token=token), metadata=someone_else
        ),
        "page_token",
        reason="INVALID_PAGE_TOKEN",
    )


async def test_a_signed_dispute_notice_due_beyond_the_calendar_is_refused(
    stack: DisputeStack,
) -> None:
    payment = await stack.served.api.captured(amount=usd(10))
    body = {
        "event_id": "evt_far",
        "attempt_id": payment.attempts[0].id,
        "dispute_id": "ch_far",
        "kind": "chargeback",
        "status": "opened",
        "amount": 1000,
        "currency": "USD",
        "reason": "fraudulent",
    }
    url = f"{stack.served.callbacks_url}/callbacks/{stack.acquirer.name}/disputes"
    for due in [2**63, 10**20, 253402300800 * 10, -(2**63)]:
        raw = json.dumps({**body, "evidence_due_by": due}).encode()
        headers = {SIGNATURE_HEADER: sign(CALLBACK_SECRET, raw, int(time.time()))}
        async with ClientSession() as session, session.post(url, data=raw, headers=headers) as r:
            assert r.status == 401, (due, r.status, await r.text())
    assert await stack.disputes_of(payment.id) == []


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (Timestamp(seconds=-(2**63)), Timestamp(seconds=0), "start_time"),
        (Timestamp(seconds=0), Timestamp(seconds=INT64_MAX), "end_time"),
        (Timestamp(seconds=-62135596800), Timestamp(seconds=-62135596800 + 86400), ""),
        (Timestamp(seconds=253402300799 - 86400), Timestamp(seconds=253402300799), ""),
        (Timestamp(seconds=0, nanos=-1), Timestamp(seconds=10), "start_time"),
        (Timestamp(seconds=0), Timestamp(seconds=10, nanos=1_000_000_000), "end_time"),
        (Timestamp(seconds=10), Timestamp(seconds=10), "end_time"),
    ],
)
async def test_dispute_rate_windows_at_the_edges_of_time(
    grpc_channel: grpc.aio.Channel, metadata: Metadata, start: Timestamp, end: Timestamp, field: str
) -> None:
    disputes = dispute_service_pb2_grpc.DisputeServiceStub(grpc_channel)
    request = dsvc.GetDisputeRateRequest(start_time=start, end_time=end)
    call = disputes.GetDisputeRate(request, metadata=metadata)
    if field:
        await expect_invalid(call, field)
    else:
        rate = await call
        assert rate.disputes == 0
