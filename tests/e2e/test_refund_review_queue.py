"""The refund review queue (ListRefunds): its filters, its pages and their tokens.

Callers as in test_refund_review.py: only through the ``metadata`` / ``admin_metadata``
fixtures.
"""

from __future__ import annotations

from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.auth import Metadata
from tests.support.expect import expect_invalid
from tests.support.requests import build, usd

from .back_office import BackOffice

R = pb.Refund


async def test_list_refunds_filters_the_review_queue_and_pages(
    api: Api, admin: BackOffice, other_api: Api, metadata: Metadata
) -> None:
    await admin.set_thresholds(usd(5))
    queued = []
    for _ in range(3):
        payment = await api.captured()
        queued.append((await api.refund(payment.id)).refund.id)
    settled = (await api.refund((await api.captured()).id, usd(1))).refund.id
    await other_api.refund((await other_api.captured()).id)

    seen: list[str] = []
    token = ""
    while True:
        page = await admin.refunds(states=[R.STATE_PENDING_REVIEW], page_size=2, page_token=token)
        assert len(page.refunds) <= 2
        seen.extend(r.id for r in page.refunds)
        token = page.next_page_token
        if not token:
            break
    assert seen == queued[::-1]  # newest first, only this merchant's, only held ones

    as_merchant = build(svc.ListRefundsRequest)
    everything = await admin.payments.ListRefunds(as_merchant, metadata=metadata)
    assert {r.id for r in everything.refunds} == {*queued, settled}
    one_payment = await admin.refunds(payment_id=everything.refunds[0].payment_id)
    assert [r.id for r in one_payment.refunds] == [everything.refunds[0].id]


async def test_list_refunds_refuses_a_token_issued_for_other_filters(
    api: Api, admin: BackOffice
) -> None:
    for _ in range(2):
        await api.refund((await api.captured()).id)
    page = await admin.refunds(page_size=1)
    assert page.next_page_token
    await expect_invalid(
        admin.refunds(page_size=1, page_token=page.next_page_token, states=[R.STATE_FAILED]),
        "page_token",
        reason="INVALID_PAGE_TOKEN",
    )
    payments_page = await api.list(page_size=1)
    await expect_invalid(
        admin.refunds(page_token=payments_page.next_page_token or "x.y"),
        "page_token",
        reason="INVALID_PAGE_TOKEN",
    )
