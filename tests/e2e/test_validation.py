"""Every malformed request is refused with INVALID_ARGUMENT naming its field, and writes nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from core.config import DEV_FINGERPRINT_KEY
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.expect import assert_invalid, expect_invalid, same_payment
from tests.support.requests import (
    EXP_YEAR,
    PAYMENT_RPCS,
    READY_FOR,
    card,
    changed,
    create_request,
    manual_confirmation,
    money,
    usd,
)

CARD = "payment_method.card"

CREATE_MISTAKES: dict[str, tuple[dict[str, Any], str]] = {
    "missing request_id": ({"request_id": ""}, "request_id"),
    "request_id of 256 characters": ({"request_id": "r" * 256}, "request_id"),
    "request_id with spaces": ({"request_id": "my request"}, "request_id"),
    "request_id with a tab": ({"request_id": "my\trequest"}, "request_id"),
    "request_id not ascii": ({"request_id": "requête"}, "request_id"),
    "missing amount": ({"amount": None}, "amount"),
    "zero amount": ({"amount": usd(0)}, "amount"),
    "negative units": ({"amount": money(-5)}, "amount"),
    "negative nanos": ({"amount": money(0, -500_000_000)}, "amount"),
    "negative nanos on positive units": ({"amount": money(5, -10_000_000)}, "amount"),
    "unknown currency ZZZ": ({"amount": money(10, 0, "ZZZ")}, "amount.currency_code"),
    "lower-case currency usd": ({"amount": money(10, 0, "usd")}, "amount.currency_code"),
    "empty currency": ({"amount": money(10, 0, "")}, "amount.currency_code"),
    "gold XAU has no minor unit": ({"amount": money(10, 0, "XAU")}, "amount.currency_code"),
    "JPY with nanos": ({"amount": money(100, 500_000_000, "JPY")}, "amount"),
    "USD 10.005": ({"amount": money(10, 5_000_000)}, "amount"),
    "BHD 1.2345": ({"amount": money(1, 234_500_000, "BHD")}, "amount"),
    "nanos of a whole unit": ({"amount": money(10, 1_000_000_000)}, "amount"),
    "amount above the maximum": ({"amount": money(10**13, 10_000_000)}, "amount"),
    "amount of int64 max units": ({"amount": money(2**63 - 1)}, "amount"),
    "missing payment_method": ({"payment_method": None}, "payment_method"),
    "empty payment_method": ({"payment_method": pb.PaymentMethodData()}, "payment_method"),
    "card number with letters": ({"payment_method": card("4242abcd42424242")}, f"{CARD}.number"),
    "card number too short": ({"payment_method": card("42424242")}, f"{CARD}.number"),
    "card number too long": ({"payment_method": card("4" * 20)}, f"{CARD}.number"),
    "card number with spaces": ({"payment_method": card("4242 4242 4242 4242")}, f"{CARD}.number"),
    "card number failing Luhn": ({"payment_method": card("4242424242424241")}, f"{CARD}.number"),
    "missing card number": ({"payment_method": card("")}, f"{CARD}.number"),
    "exp_month 13": ({"payment_method": card(exp_month=13)}, f"{CARD}.exp_month"),
    "exp_month 0": ({"payment_method": card(exp_month=0)}, f"{CARD}.exp_month"),
    "expired card": (
        {"payment_method": card(exp_month=12, exp_year=EXP_YEAR - 5)},
        f"{CARD}.exp_year",
    ),
    "two-digit exp_year": ({"payment_method": card(exp_year=30)}, f"{CARD}.exp_year"),
    "cvc with a letter": ({"payment_method": card(cvc="12a")}, f"{CARD}.cvc"),
    "cvc of 2 digits": ({"payment_method": card(cvc="12")}, f"{CARD}.cvc"),
    "cvc of 5 digits": ({"payment_method": card(cvc="12345")}, f"{CARD}.cvc"),
    "holder_name of 201 characters": (
        {"payment_method": card(holder_name="h" * 201)},
        f"{CARD}.holder_name",
    ),
    "customer_id of 256 characters": ({"customer_id": "c" * 256}, "customer_id"),
    "description of 1001 characters": ({"description": "d" * 1001}, "description"),
    "51 metadata keys": ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata"),
    "metadata key of 41 characters": ({"metadata": {"k" * 41: "v"}}, "metadata"),
    "metadata value of 501 characters": ({"metadata": {"k": "v" * 501}}, "metadata"),
    "empty metadata key": ({"metadata": {"": "v"}}, "metadata"),
    "unknown capture_method 99": ({"capture_method": 99}, "capture_method"),
    "unknown confirmation_method 99": ({"confirmation_method": 99}, "confirmation_method"),
    "bad card with manual confirmation": (
        manual_confirmation(payment_method=card("4242424242424241")),
        f"{CARD}.number",
    ),
}


@pytest.mark.parametrize(("fields", "field"), CREATE_MISTAKES.values(), ids=CREATE_MISTAKES)
async def test_invalid_create_is_refused_and_writes_nothing(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    await expect_invalid(api.call("CreatePayment", create_request(**fields)), field)

    assert list((await api.list()).payments) == []


async def test_every_mistake_of_a_request_is_reported_at_once(api: Api) -> None:
    request = create_request(
        request_id="",
        amount=money(1, 0, "usd"),
        payment_method=card("1234", exp_month=13, cvc="x"),
        description="d" * 1001,
    )

    error = await expect_invalid(
        api.call("CreatePayment", request),
        "request_id",
        "amount.currency_code",
        f"{CARD}.number",
        f"{CARD}.exp_month",
        f"{CARD}.cvc",
        "description",
    )

    assert "6" in (error.details() or "")


BAD_PAYMENT_IDS = {
    "empty": "",
    "too short": "pay_123",
    "a refund id": "re_01J0000000000000000000000A",
    "300 characters": "x" * 300,
    "not Crockford base32": "pay_" + "U" * 26,
    "no prefix": "01J0000000000000000000000A",
}


@pytest.mark.parametrize("payment_id", BAD_PAYMENT_IDS.values(), ids=BAD_PAYMENT_IDS)
@pytest.mark.parametrize("rpc", sorted(PAYMENT_RPCS))
async def test_malformed_payment_id_is_invalid(api: Api, rpc: str, payment_id: str) -> None:
    await expect_invalid(api.call(rpc, PAYMENT_RPCS[rpc](payment_id)), "payment_id")


MUTATION_MISTAKES: dict[str, tuple[str, dict[str, Any], str]] = {
    "capture without request_id": ("CapturePayment", {"request_id": ""}, "request_id"),
    "capture of zero": ("CapturePayment", {"amount": usd(0)}, "amount"),
    "capture of negative units": ("CapturePayment", {"amount": money(-1)}, "amount"),
    "capture in lower-case currency": (
        "CapturePayment",
        {"amount": money(1, 0, "usd")},
        "amount.currency_code",
    ),
    "capture of 1.001": ("CapturePayment", {"amount": money(1, 1_000_000)}, "amount"),
    "cancel without request_id": ("CancelPayment", {"request_id": ""}, "request_id"),
    "cancel reason of 501": ("CancelPayment", {"reason": "r" * 501}, "reason"),
    "refund without request_id": ("RefundPayment", {"request_id": ""}, "request_id"),
    "refund of zero": ("RefundPayment", {"amount": usd(0)}, "amount"),
    "refund of negative nanos": ("RefundPayment", {"amount": money(0, -1)}, "amount"),
    "refund in ZZZ": ("RefundPayment", {"amount": money(1, 0, "ZZZ")}, "amount.currency_code"),
    "refund reason of 501": ("RefundPayment", {"reason": "r" * 501}, "reason"),
    "confirm without request_id": ("ConfirmPayment", {"request_id": ""}, "request_id"),
    "confirm without payment_method": (
        "ConfirmPayment",
        {"payment_method": None},
        "payment_method",
    ),
    "confirm with Luhn failure": (
        "ConfirmPayment",
        {"payment_method": card("4242424242424241")},
        f"{CARD}.number",
    ),
    "confirm with expired card": (
        "ConfirmPayment",
        {"payment_method": card(exp_year=2001)},
        f"{CARD}.exp_year",
    ),
    "update without request_id": ("UpdatePayment", {"request_id": ""}, "request_id"),
    "update with nothing set": ("UpdatePayment", {"description": None}, "update_mask"),
    "update_mask with unknown path": (
        "UpdatePayment",
        {"update_mask": {"paths": ["state"]}},
        "update_mask",
    ),
    "update_mask naming an unset amount": (
        "UpdatePayment",
        {"update_mask": {"paths": ["amount"]}},
        "amount",
    ),
    "update amount of zero": ("UpdatePayment", {"amount": usd(0)}, "amount"),
    "update amount in XAU": (
        "UpdatePayment",
        {"amount": money(1, 0, "XAU")},
        "amount.currency_code",
    ),
    "update description of 1001": ("UpdatePayment", {"description": "d" * 1001}, "description"),
    "update with 51 metadata keys": (
        "UpdatePayment",
        {"metadata": {f"k{i}": "v" for i in range(51)}},
        "metadata",
    ),
    "update with an empty metadata key": ("UpdatePayment", {"metadata": {"": "v"}}, "metadata"),
}


@pytest.mark.parametrize(
    ("rpc", "fields", "field"), MUTATION_MISTAKES.values(), ids=MUTATION_MISTAKES
)
async def test_invalid_mutation_is_refused_and_changes_nothing(
    api: Api, rpc: str, fields: dict[str, Any], field: str
) -> None:
    payment = await api.in_state(READY_FOR[rpc])

    await expect_invalid(api.call(rpc, changed(PAYMENT_RPCS[rpc](payment.id), **fields)), field)

    same_payment(payment, await api.get(payment.id))


def _stamp(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


LIST_MISTAKES: dict[str, tuple[dict[str, Any], str]] = {
    "negative page_size": ({"page_size": -1}, "page_size"),
    "unknown state 99": ({"states": [99]}, "states[0]"),
    "unspecified state": ({"states": [pb.Payment.STATE_CAPTURED, 0]}, "states[1]"),
    "customer_id of 256": ({"customer_id": "c" * 256}, "customer_id"),
    "end before start": (
        {"create_time_start": _stamp(1_700_000_100), "create_time_end": _stamp(1_700_000_000)},
        "create_time_end",
    ),
    "end equal to start": (
        {"create_time_start": _stamp(1_700_000_000), "create_time_end": _stamp(1_700_000_000)},
        "create_time_end",
    ),
    "start before year 1": ({"create_time_start": _stamp(-62135596801)}, "create_time_start"),
    "end after year 9999": ({"create_time_end": _stamp(253402300800)}, "create_time_end"),
    "negative nanos": ({"create_time_start": _stamp(1_700_000_000, -1)}, "create_time_start"),
}


@pytest.mark.parametrize(("fields", "field"), LIST_MISTAKES.values(), ids=LIST_MISTAKES)
async def test_invalid_list_request_is_refused(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    await expect_invalid(api.list(**fields), field)


def _token(payload: object, key: bytes = DEV_FINGERPRINT_KEY.encode()) -> str:
    """A page token as paycore makes them, signed with ``key`` (the test server's by default)."""
    raw = json.dumps(payload).encode()
    signature = hmac.new(key, raw, hashlib.sha256).digest()[:16]
    encode = base64.urlsafe_b64encode
    return f"{encode(raw).decode().rstrip('=')}.{encode(signature).decode().rstrip('=')}"


BAD_TOKENS = {
    "garbage": "garbage",
    "punctuation": "!!!!",
    "not ascii": "jeton-invalidé",
    "signature not ascii": _token({"t": "2026-01-01T00:00:00+00:00"}).partition(".")[0] + ".signé",
    "base64 of junk bytes": base64.urlsafe_b64encode(b"\xff\xfe\x00junk").decode(),
    "base64 of a JSON list": _token([1, 2]),
    "base64 of a JSON string": _token("token"),
    "base64 of null": _token(None),
    "missing fields": _token({"t": "2026-01-01T00:00:00+00:00"}),
    "time not a string": _token({"t": 5, "id": "pay_" + "0" * 26, "f": "x"}),
    "naive time": _token({"t": "2026-01-01T00:00:00", "id": "pay_" + "0" * 26, "f": "x"}),
    "id not a payment id": _token({"t": "2026-01-01T00:00:00+00:00", "id": "x", "f": "x"}),
    "id not a string": _token({"t": "2026-01-01T00:00:00+00:00", "id": 7, "f": "x"}),
    "forged filters": _token({"t": "2026-01-01T00:00:00+00:00", "id": "pay_" + "0" * 26, "f": "x"}),
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS)
async def test_bad_page_token_is_refused(api: Api, token: str) -> None:
    await expect_invalid(api.list(page_token=token), "page_token", reason="INVALID_PAGE_TOKEN")


RPC_INPUTS = {
    method.name: method.input_type
    for method in svc.DESCRIPTOR.services_by_name["PaymentService"].methods
}
GARBAGE = {
    "three 0xff bytes": b"\xff\xff\xff",
    "truncated length": b"\x0a\x05ab",
    "a bare end-group tag": b"\x0c",
}


def _invalid_utf8_string(rpc: str) -> bytes:
    """The request's first string field, holding bytes that are not UTF-8."""
    field = next(f for f in RPC_INPUTS[rpc].fields if f.type == f.TYPE_STRING)
    return bytes([field.number << 3 | 2, 2]) + b"\xff\xfe"


@pytest.mark.parametrize("raw", [*GARBAGE.values(), None], ids=[*GARBAGE, "invalid utf-8"])
@pytest.mark.parametrize("rpc", sorted(RPC_INPUTS))
async def test_request_bytes_that_are_not_a_message_are_invalid_argument(
    api: Api,
    raw_rpc: Any,
    rpc: str,
    raw: bytes | None,
    admin_metadata: tuple[tuple[str, str], ...],
) -> None:
    # As an admin, who may call every PaymentService RPC (the role is checked
    # before the request is parsed).
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await raw_rpc(rpc)(raw or _invalid_utf8_string(rpc), metadata=admin_metadata)

    assert_invalid(caught.value, [])
    assert list((await api.list()).payments) == []


async def test_unknown_fields_do_not_break_a_request(api: Api, raw_rpc: Any) -> None:
    request = create_request().SerializeToString() + b"\xf8\x3f\x01"  # field 1023 = 1

    raw = await raw_rpc("CreatePayment")(request, metadata=api.metadata)

    payment = svc.CreatePaymentResponse.FromString(raw).payment
    assert payment.state == pb.Payment.STATE_CAPTURED


NUL_TEXT: dict[str, tuple[str, dict[str, Any], str]] = {
    "create description": ("CreatePayment", {"description": "a\x00b"}, "description"),
    "create customer_id": ("CreatePayment", {"customer_id": "c\x00"}, "customer_id"),
    "create metadata value": ("CreatePayment", {"metadata": {"k": "v\x00"}}, "metadata"),
    "create metadata key": ("CreatePayment", {"metadata": {"k\x00": "v"}}, "metadata"),
    "refund reason": ("RefundPayment", {"reason": "r\x00"}, "reason"),
    "update description": ("UpdatePayment", {"description": "d\x00"}, "description"),
    "update metadata": ("UpdatePayment", {"metadata": {"k": "\x00"}}, "metadata"),
}


@pytest.mark.parametrize(("rpc", "fields", "field"), NUL_TEXT.values(), ids=NUL_TEXT)
async def test_text_with_a_nul_character_is_invalid_not_internal(
    api: Api, rpc: str, fields: dict[str, Any], field: str
) -> None:
    payment = await api.captured()
    if rpc == "CreatePayment":
        request: Any = create_request(**fields)
    else:
        request = changed(PAYMENT_RPCS[rpc](payment.id), **fields)

    await expect_invalid(api.call(rpc, request), field)

    assert [p.id for p in await api.list_all()] == [payment.id]
    same_payment(payment, await api.get(payment.id))


def _filters_of(request: svc.ListPaymentsRequest) -> str:
    """The filter digest a page token carries (a token is not signed: anyone can make one)."""
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()[:16]


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_page_token_with_an_out_of_range_time_is_invalid_not_internal(
    api: Api, stamp: str
) -> None:
    token = _token(
        {"t": stamp, "id": "pay_" + "0" * 26, "f": _filters_of(svc.ListPaymentsRequest())}
    )

    await expect_invalid(api.list(page_token=token), "page_token", reason="INVALID_PAGE_TOKEN")


@pytest.mark.parametrize("key", [b"", b"another paycore's secret"], ids=["unsigned", "other-key"])
async def test_page_token_not_signed_by_this_service_is_rejected(api: Api, key: bytes) -> None:
    await api.create()
    payload = {
        "t": "2026-01-01T00:00:00+00:00",
        "id": "pay_" + "Z" * 26,
        "f": _filters_of(svc.ListPaymentsRequest()),
    }
    token = (
        _token(payload, key)
        if key
        else base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    )

    await expect_invalid(api.list(page_token=token), "page_token", reason="INVALID_PAGE_TOKEN")
