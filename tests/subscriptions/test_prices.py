"""A merchant reads its prices back (issue 20): GetPrice and ListPrices, its own only."""

from __future__ import annotations

import pytest

from paycore.v1 import subscription_pb2 as sub_pb
from paycore.v1 import subscription_service_pb2 as pb
from tests.subscriptions.conftest import SubscriptionApi
from tests.support.expect import NOT_FOUND, expect_error, expect_invalid

pytestmark = pytest.mark.asyncio


async def test_prices_are_read_one_by_one_and_listed_newest_first_page_by_page(
    subscriptions: SubscriptionApi,
) -> None:
    silver = await subscriptions.price(500)
    gold = await subscriptions.price(900, trial_days=7)
    yearly = await subscriptions.price(9000, interval=sub_pb.Price.INTERVAL_YEAR)

    for price in (silver, gold, yearly):
        got = await subscriptions.call("GetPrice", pb.GetPriceRequest(price_id=price.id))
        assert got.price == price
    listed: list[sub_pb.Price] = []
    token = ""
    while True:
        request = pb.ListPricesRequest(page_size=2, page_token=token)
        page = await subscriptions.call("ListPrices", request)
        assert len(page.prices) <= 2
        listed.extend(page.prices)
        token = page.next_page_token
        if not token:
            break
    assert listed == [yearly, gold, silver]


async def test_another_merchants_prices_are_neither_read_nor_listed(
    subscriptions: SubscriptionApi, other_subscriptions: SubscriptionApi
) -> None:
    mine = await subscriptions.price(500)
    await subscriptions.price(600)
    first = await subscriptions.call("ListPrices", pb.ListPricesRequest(page_size=1))
    assert first.next_page_token

    await expect_error(
        other_subscriptions.call("GetPrice", pb.GetPriceRequest(price_id=mine.id)),
        NOT_FOUND,
        "PRICE_NOT_FOUND",
    )
    theirs = await other_subscriptions.call("ListPrices", pb.ListPricesRequest())
    assert list(theirs.prices) == []
    await expect_invalid(
        other_subscriptions.call(
            "ListPrices", pb.ListPricesRequest(page_token=first.next_page_token)
        ),
        "page_token",
        reason="INVALID_PAGE_TOKEN",
    )
    await expect_invalid(
        subscriptions.call("GetPrice", pb.GetPriceRequest(price_id="sub_nope")), "price_id"
    )
