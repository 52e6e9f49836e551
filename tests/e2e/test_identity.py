"""Who is calling: a call must carry a valid API key, and sees only its merchant's payments."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from core.app import Services
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.auth import MERCHANT_HEADER, merchant_metadata
from tests.support.expect import (
    NOT_FOUND,
    PERMISSION_DENIED,
    UNAUTHENTICATED,
    error_info,
    expect_error,
    same_payment,
)
from tests.support.requests import PAYMENT_RPCS, create_request

ALL_RPCS: dict[str, Any] = {
    **PAYMENT_RPCS,
    "CreatePayment": lambda _: create_request(),
    "ListPayments": lambda _: svc.ListPaymentsRequest(),
}
SOME_PAYMENT = "pay_" + "0" * 26


async def _call(stub: Any, rpc: str, metadata: Any) -> Any:
    return await getattr(stub, rpc)(ALL_RPCS[rpc](SOME_PAYMENT), metadata=metadata)


@pytest.mark.parametrize("rpc", sorted(ALL_RPCS))
async def test_call_without_api_key_is_unauthenticated(stub: Any, rpc: str) -> None:
    await expect_error(_call(stub, rpc, None), UNAUTHENTICATED, "API_KEY_MISSING")


UNKNOWN_KEY = "pck_0000000000ZZ_" + "A" * 43
BAD_AUTHORIZATION = {
    "no scheme": UNKNOWN_KEY,
    "basic scheme": f"Basic {UNKNOWN_KEY}",
    "bearer without key": "Bearer ",
    "not a key": "Bearer hunter2",
    "unknown key": f"Bearer {UNKNOWN_KEY}",
}


@pytest.mark.parametrize("value", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION)
@pytest.mark.parametrize("rpc", ["CreatePayment", "GetPayment", "ListPayments"])
async def test_invalid_api_key_is_unauthenticated(stub: Any, rpc: str, value: str) -> None:
    await expect_error(
        _call(stub, rpc, (("authorization", value),)), UNAUTHENTICATED, "API_KEY_INVALID"
    )


async def test_right_prefix_with_wrong_secret_is_unauthenticated(stub: Any, api: Api) -> None:
    secret = api.metadata[0][1].removeprefix("Bearer ")
    forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")

    await expect_error(
        _call(stub, "ListPayments", (("authorization", f"Bearer {forged}"),)),
        UNAUTHENTICATED,
        "API_KEY_INVALID",
    )


async def test_two_api_keys_are_unauthenticated(stub: Any, api: Api, other_api: Api) -> None:
    metadata = (*api.metadata, *other_api.metadata)

    await expect_error(_call(stub, "CreatePayment", metadata), UNAUTHENTICATED, "API_KEY_INVALID")

    assert list((await api.list()).payments) == []
    assert list((await other_api.list()).payments) == []


async def test_merchant_key_cannot_act_for_another_merchant(api: Api, other_api: Api) -> None:
    metadata = (*api.metadata, (MERCHANT_HEADER, other_api.merchant_id))

    error = await expect_error(
        _call(api.stub, "CreatePayment", metadata),
        PERMISSION_DENIED,
        "MERCHANT_MISMATCH",
    )

    assert error_info(error).metadata["merchant_id"] == other_api.merchant_id
    assert list((await other_api.list()).payments) == []
    assert list((await api.list()).payments) == []


async def test_merchant_key_may_name_its_own_merchant(api: Api) -> None:
    metadata = (*api.metadata, (MERCHANT_HEADER, api.merchant_id))

    response = await _call(api.stub, "CreatePayment", metadata)

    assert response.payment.merchant_id == api.merchant_id


async def test_merchant_id_of_64_characters_is_accepted(stub: Any, services: Services) -> None:
    merchant = "M-_9" * 16
    api = Api(stub, merchant, await merchant_metadata(services.pool, merchant))

    payment = await api.create()

    assert payment.merchant_id == merchant


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
