"""Page tokens passed to another merchant: refused, as a token of another listing is (AIP-158).

A token signed only for a listing's filters would be taken by another merchant
as a cursor into its own listing: ListPayments and ListRefunds tokens name no
merchant in their filters, and system accounts have the same id at every
merchant (``merchant_pending.USD``). (ListDisputes: test_adversarial_disputes.py.)
"""

from __future__ import annotations

import grpc

from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.expect import expect_invalid
from tests.support.requests import usd

PENDING = "merchant_pending.USD"


async def test_another_merchants_statement_token_is_an_invalid_page_token(
    grpc_channel: grpc.aio.Channel, api: Api, other_api: Api
) -> None:
    accounts = account_service_pb2_grpc.AccountServiceStub(grpc_channel)
    for merchant in (api, other_api):
        for _ in range(2):
            await merchant.captured(amount=usd(3))
    first = acc.ListAccountEntriesRequest(account_id=PENDING, page_size=1)
    page = await accounts.ListAccountEntries(first, metadata=api.metadata)
    assert page.next_page_token
    theirs = acc.ListAccountEntriesRequest(
        account_id=PENDING, page_size=1, page_token=page.next_page_token
    )
    await expect_invalid(
        accounts.ListAccountEntries(theirs, metadata=other_api.metadata),
        "page_token",
        reason="INVALID_PAGE_TOKEN",
    )
    mine = await accounts.ListAccountEntries(theirs, metadata=api.metadata)
    assert mine.entries and mine.entries != page.entries


async def test_another_merchants_refunds_token_is_an_invalid_page_token(
    api: Api, other_api: Api
) -> None:
    payment = await api.captured(amount=usd(10))
    for _ in range(2):
        await api.refund(payment.id, usd(1))
    page = await api.call("ListRefunds", svc.ListRefundsRequest(page_size=1))
    assert page.next_page_token
    theirs = svc.ListRefundsRequest(page_size=1, page_token=page.next_page_token)
    await expect_invalid(
        other_api.call("ListRefunds", theirs), "page_token", reason="INVALID_PAGE_TOKEN"
    )
    assert len((await api.call("ListRefunds", theirs)).refunds) == 1
