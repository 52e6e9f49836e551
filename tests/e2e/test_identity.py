"""Who is calling: a call must name its merchant, and sees only that merchant's payments."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from paycore.v1 import payment_service_pb2 as svc

from .helpers import (
    MERCHANT_HEADER,
    NOT_FOUND,
    PAYMENT_RPCS,
    UNAUTHENTICATED,
    Api,
    create_request,
    error_info,
    expect_error,
    same_payment,
)

ALL_RPCS: dict[str, Any] = {
    **PAYMENT_RPCS,
    "CreatePayment": lambda _: create_request(),
    "ListPayments": lambda _: svc.ListPaymentsRequest(),
}
SOME_PAYMENT = "pay_" + "0" * 26


async def _call(stub: Any, rpc: str, metadata: Any) -> Any:
    return await getattr(stub, rpc)(ALL_RPCS[rpc](SOME_PAYMENT), metadata=metadata)


@pytest.mark.parametrize("rpc", sorted(ALL_RPCS))
async def test_call_without_merchant_is_unauthenticated(stub: Any, rpc: str) -> None:
    error = await expect_error(_call(stub, rpc, None), UNAUTHENTICATED, "MERCHANT_IDENTITY_MISSING")

    assert error_info(error).metadata["header"] == MERCHANT_HEADER


MALFORMED_MERCHANTS = {
    "empty": "",
    "65 characters": "m" * 65,
    "space": "merchant one",
    "slash": "m/1",
    "dot": "m.1",
    "percent": "m%41",
}


@pytest.mark.parametrize("merchant", MALFORMED_MERCHANTS.values(), ids=MALFORMED_MERCHANTS)
@pytest.mark.parametrize("rpc", ["CreatePayment", "GetPayment", "ListPayments"])
async def test_malformed_merchant_is_unauthenticated(stub: Any, rpc: str, merchant: str) -> None:
    await expect_error(
        _call(stub, rpc, ((MERCHANT_HEADER, merchant),)),
        UNAUTHENTICATED,
        "MERCHANT_IDENTITY_MISSING",
    )


async def test_two_merchant_headers_are_unauthenticated(
    stub: Any, api: Api, other_api: Api
) -> None:
    metadata = (*api.metadata, *other_api.metadata)

    await expect_error(
        _call(stub, "CreatePayment", metadata), UNAUTHENTICATED, "MERCHANT_IDENTITY_MISSING"
    )

    assert list((await api.list()).payments) == []
    assert list((await other_api.list()).payments) == []


async def test_merchant_id_of_64_characters_is_accepted(stub: Any) -> None:
    api = Api(stub, "M-_9" * 16)

    payment = await api.create()

    assert payment.merchant_id == "M-_9" * 16


async def test_unauthenticated_garbage_is_unauthenticated_not_invalid(raw_rpc: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_rpc("CreatePayment")(b"\xff\xff\xff")

    assert caught.value.code() == UNAUTHENTICATED


@pytest.mark.parametrize("rpc", sorted(PAYMENT_RPCS))
async def test_another_merchants_payment_is_not_found(api: Api, other_api: Api, rpc: str) -> None:
    # Ready for every operation: confirm, update and cancel would all succeed for the owner.
    target = await (api.captured() if rpc == "RefundPayment" else api.requires_confirmation())

    error = await expect_error(
        other_api.call(rpc, PAYMENT_RPCS[rpc](target.id)), NOT_FOUND, "PAYMENT_NOT_FOUND"
    )

    assert error_info(error).metadata["payment_id"] == target.id
    same_payment(target, await api.get(target.id))


async def test_list_never_shows_another_merchants_payments(api: Api, other_api: Api) -> None:
    mine = await api.create(customer_id="shared")
    theirs = await other_api.create(customer_id="shared")

    assert [p.id for p in await api.list_all()] == [mine.id]
    assert [p.id for p in await other_api.list_all(customer_id="shared")] == [theirs.id]
