"""Adversarial AccountService requests: a statement's page token is the merchant's own.

System accounts have the same id at every merchant (``merchant_pending.USD``),
so a page token signed only for the account id would be taken by another
merchant as a cursor into its own statement. It is refused instead, as a
token of another listing is (AIP-158).
"""

from __future__ import annotations

import grpc

from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc
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
