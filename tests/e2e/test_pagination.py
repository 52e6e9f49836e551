"""ListPayments (AIP-158): newest first, stable keyset pages, filters that combine with AND."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from google.protobuf import timestamp_pb2

from core.app import Services
from paycore.v1 import payment_service_pb2_grpc
from tests.support.api import Api
from tests.support.auth import merchant_metadata
from tests.support.expect import expect_invalid
from tests.support.requests import S, card, manual_capture, new_merchant_id, usd, wire


async def _create_in_order(api: Api, count: int, **fields: object) -> list[str]:
    return [(await api.create(**fields)).id for _ in range(count)]


async def _pages(api: Api, page_size: int, **filters: object) -> list[list[str]]:
    pages: list[list[str]] = []
    token = ""
    while True:
        page = await api.list(page_size=page_size, page_token=token, **filters)
        pages.append([p.id for p in page.payments])
        token = page.next_page_token
        if not token:
            return pages


async def test_pages_walk_every_payment_newest_first_without_gaps_or_duplicates(api: Api) -> None:
    created = await _create_in_order(api, 7)

    pages = await _pages(api, 3)

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [payment_id for page in pages for payment_id in page] == created[::-1]


async def test_last_page_has_an_empty_token_even_when_full(api: Api) -> None:
    created = await _create_in_order(api, 3)

    page = await api.list(page_size=3)

    assert [p.id for p in page.payments] == created[::-1]
    assert page.next_page_token == ""


async def test_page_size_may_change_between_pages(api: Api) -> None:
    created = await _create_in_order(api, 5)

    first = await api.list(page_size=2)
    rest = await api.list(page_size=10, page_token=first.next_page_token)

    assert [p.id for p in (*first.payments, *rest.payments)] == created[::-1]
    assert rest.next_page_token == ""


async def test_payment_created_while_paging_does_not_shift_later_pages(api: Api) -> None:
    created = await _create_in_order(api, 4)
    first = await api.list(page_size=2)
    newer = await api.create()

    second = await api.list(page_size=2, page_token=first.next_page_token)

    assert [p.id for p in second.payments] == created[1::-1]
    assert newer.id not in [p.id for p in second.payments]


async def test_no_payments_lists_nothing(api: Api) -> None:
    page = await api.list()

    assert list(page.payments) == []
    assert page.next_page_token == ""


@pytest.fixture(scope="module")
async def busy_merchant(
    stub: payment_service_pb2_grpc.PaymentServiceStub, services: Services
) -> AsyncIterator[Api]:
    """A merchant with 101 payments (waiting for confirmation: cheap to make)."""
    merchant = new_merchant_id()
    api = Api(stub, merchant, await merchant_metadata(services.pool, merchant))
    await asyncio.gather(*(api.requires_confirmation() for _ in range(101)))
    yield api


async def test_page_size_zero_means_twenty(busy_merchant: Api) -> None:
    page = await busy_merchant.list(page_size=0)

    assert len(page.payments) == 20
    assert page.next_page_token


async def test_page_size_above_one_hundred_is_capped_at_one_hundred(busy_merchant: Api) -> None:
    page = await busy_merchant.list(page_size=1000)
    rest = await busy_merchant.list(page_size=1000, page_token=page.next_page_token)

    assert len(page.payments) == 100
    assert len(rest.payments) == 1
    assert rest.next_page_token == ""
    assert len({p.id for p in (*page.payments, *rest.payments)}) == 101


async def test_filter_by_states(api: Api) -> None:
    captured = await api.create()
    authorized = await api.create(**manual_capture())
    declined = await api.create(payment_method=card("4000000000000002"))
    await api.requires_confirmation()

    only_authorized = await api.list_all(states=[S.STATE_AUTHORIZED])
    either = await api.list_all(states=[S.STATE_CAPTURED, S.STATE_DECLINED])

    assert [p.id for p in only_authorized] == [authorized.id]
    assert [p.id for p in either] == [declined.id, captured.id]


async def test_filter_by_customer_id(api: Api) -> None:
    alice = await _create_in_order(api, 2, customer_id="alice")
    await api.create(customer_id="bob")
    await api.create()

    payments = await api.list_all(customer_id="alice")

    assert [p.id for p in payments] == alice[::-1]


async def test_filter_by_create_time_includes_the_start_and_excludes_the_end(api: Api) -> None:
    first, second, third = [await api.create() for _ in range(3)]

    between = await api.list_all(
        create_time_start=second.create_time, create_time_end=third.create_time
    )
    from_second = await api.list_all(create_time_start=second.create_time)
    before_second = await api.list_all(create_time_end=second.create_time)

    assert [p.id for p in between] == [second.id]
    assert [p.id for p in from_second] == [third.id, second.id]
    assert [p.id for p in before_second] == [first.id]


async def test_filters_combine_and_hold_across_pages(api: Api) -> None:
    start = timestamp_pb2.Timestamp()
    start.GetCurrentTime()
    wanted = await _create_in_order(api, 3, customer_id="c1", **manual_capture())
    await api.create(customer_id="c1")
    await api.create(customer_id="c2", **manual_capture())

    pages = await _pages(
        api, 1, customer_id="c1", states=[S.STATE_AUTHORIZED], create_time_start=start
    )

    assert pages == [[payment_id] for payment_id in wanted[::-1]]


async def test_page_token_reused_with_different_filters_is_refused(api: Api) -> None:
    await _create_in_order(api, 3, customer_id="c1")
    page = await api.list(page_size=1, customer_id="c1")

    for filters in (
        {"customer_id": "c2"},
        {},
        {"customer_id": "c1", "states": [S.STATE_CAPTURED]},
    ):
        await expect_invalid(
            api.list(page_size=1, page_token=page.next_page_token, **filters),
            "page_token",
            reason="INVALID_PAGE_TOKEN",
        )


async def test_page_token_of_another_merchant_is_refused(api: Api, other_api: Api) -> None:
    # Not read as a cursor into the other merchant's payments: refused, as a token of other
    # filters is (and as ListCustomers, ListDisputes and the others refuse theirs).
    await _create_in_order(api, 3, amount=usd(1))
    token = (await api.list(page_size=1)).next_page_token
    await _create_in_order(other_api, 2)

    await expect_invalid(
        other_api.list(page_size=10, page_token=token), "page_token", reason="INVALID_PAGE_TOKEN"
    )
    assert len((await api.list(page_size=10, page_token=token)).payments) == 2


async def test_create_time_bounds_are_exact_to_the_nanosecond(api: Api) -> None:
    first, second, third = [await api.create() for _ in range(3)]
    just_after_second = timestamp_pb2.Timestamp(
        seconds=second.create_time.seconds, nanos=second.create_time.nanos + 1
    )

    from_then = await api.list_all(create_time_start=just_after_second)
    until_then = await api.list_all(create_time_end=just_after_second)

    assert [p.id for p in from_then] == [third.id]
    assert [p.id for p in until_then] == [second.id, first.id]


async def test_listed_payments_are_the_payments_get_returns(api: Api) -> None:
    payment = await api.create(metadata={"k": "v"})
    await api.refund(payment.id, usd(2))

    (listed,) = (await api.list()).payments

    assert wire(listed) == wire(await api.get(payment.id))
    assert len(listed.refunds) == 1
