"""Page tokens passed to another merchant: refused, as a token of another listing is (AIP-158).

A token signed only for a listing's filters would be taken by another merchant
as a cursor into its own listing: ListPayments and ListRefunds tokens name no
merchant in their filters, and system accounts have the same id at every
merchant (``merchant_pending.USD``). (ListDisputes: test_adversarial_disputes.py.)
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable
from typing import Any

import grpc

from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc, risk_service_pb2_grpc, webhook_service_pb2_grpc
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import risk_service_pb2 as risk_svc
from paycore.v1 import webhook_service_pb2 as wh
from tests.support.api import Api
from tests.support.auth import Metadata
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


async def test_forged_tokens_of_the_back_office_listings_are_invalid_page_tokens(
    grpc_channel: grpc.aio.Channel, admin_metadata: Metadata
) -> None:
    # Their tokens were the last id itself (base64 of a delivery id): anything of that
    # shape was taken, with any filters. Now each is signed like every other listing's.
    risk = risk_service_pb2_grpc.RiskServiceStub(grpc_channel)
    webhooks = webhook_service_pb2_grpc.WebhookServiceStub(grpc_channel)
    forged: list[Awaitable[Any]] = [
        risk.ListReviews(
            risk_svc.ListReviewsRequest(page_token="pay_" + "0" * 26), metadata=admin_metadata
        ),
        risk.ListBlocklistEntries(
            risk_svc.ListBlocklistEntriesRequest(page_token="rle_" + "0" * 26),
            metadata=admin_metadata,
        ),
        webhooks.ListWebhookDeliveries(
            wh.ListWebhookDeliveriesRequest(page_token=base64.urlsafe_b64encode(b"42").decode()),
            metadata=admin_metadata,
        ),
    ]
    for call in forged:
        await expect_invalid(call, "page_token", reason="INVALID_PAGE_TOKEN")
