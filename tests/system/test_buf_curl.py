"""A newcomer's path: call paycore with `buf curl` and nothing but server reflection."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import Message
from google.rpc import error_details_pb2

from core.api.server import PaycoreServer
from tests.support.auth import Metadata
from tests.support.buf import buf_executable

M = TypeVar("M", bound=Message)
REPO = Path(__file__).resolve().parents[2]


async def _buf_curl(
    server: PaycoreServer, metadata: Metadata, method: str, body: dict[str, object]
) -> tuple[int, str, str]:
    # The server runs on this test's event loop, so buf must run as an asyncio
    # subprocess: a blocking subprocess.run would stall the server it calls.
    process = await asyncio.create_subprocess_exec(
        buf_executable(),
        "curl",
        "--protocol",
        "grpc",
        "--http2-prior-knowledge",
        *(arg for name, value in metadata for arg in ("-H", f"{name}: {value}")),
        "-d",
        json.dumps(body),
        f"http://127.0.0.1:{server.port}/paycore.v1.PaymentService/{method}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_buf_curl_takes_a_payment_through_its_life_using_reflection(
    server: PaycoreServer, metadata: Metadata
) -> None:
    code, out, err = await _buf_curl(
        server,
        metadata,
        "CreatePayment",
        {
            "requestId": str(uuid.uuid4()),
            "amount": {"currencyCode": "EUR", "units": "25", "nanos": 990000000},
            "paymentMethod": {
                "card": {"number": "4242424242424242", "expMonth": 12, "expYear": 2099}
            },
            "captureMethod": "CAPTURE_METHOD_MANUAL",
        },
    )
    assert code == 0, err
    payment = json.loads(out)["payment"]
    assert payment["state"] == "STATE_AUTHORIZED"
    assert payment["paymentMethod"]["card"]["last4"] == "4242"

    code, out, err = await _buf_curl(
        server,
        metadata,
        "CapturePayment",
        {"requestId": str(uuid.uuid4()), "paymentId": payment["id"]},
    )
    assert code == 0, err
    assert json.loads(out)["payment"]["state"] == "STATE_CAPTURED"

    code, out, err = await _buf_curl(
        server,
        metadata,
        "RefundPayment",
        {
            "requestId": str(uuid.uuid4()),
            "paymentId": payment["id"],
            "amount": {"currencyCode": "EUR", "units": "5"},
        },
    )
    assert code == 0, err
    refunded = json.loads(out)
    assert refunded["refund"]["state"] == "STATE_SUCCEEDED"
    assert refunded["payment"]["state"] == "STATE_PARTIALLY_REFUNDED"
    assert refunded["payment"]["amountRefunded"] == {"currencyCode": "EUR", "units": "5"}

    code, out, err = await _buf_curl(server, metadata, "GetPayment", {"paymentId": payment["id"]})
    assert code == 0, err
    assert len(json.loads(out)["payment"]["refunds"]) == 1


def _detail(error: dict[str, object], type_name: str, message_type: type[M]) -> M:
    """Decode one google.rpc detail of a buf curl error (base64 without padding)."""
    details = error["details"]
    assert isinstance(details, list)
    (value,) = [d["value"] for d in details if d["type"] == type_name]
    return message_type.FromString(base64.b64decode(value + "=" * (-len(value) % 4)))


async def test_buf_curl_shows_a_client_mistake_as_invalid_argument_with_field_violations(
    server: PaycoreServer, metadata: Metadata
) -> None:
    code, _, err = await _buf_curl(
        server,
        metadata,
        "CreatePayment",
        {"requestId": "r-1", "amount": {"currencyCode": "JPY", "units": "100", "nanos": 5}},
    )
    assert code != 0
    error = json.loads(err)
    assert error["code"] == "invalid_argument"
    # buf curl prints details as base64 (it decodes Any only for types compiled into
    # buf itself), so the message must say what is wrong on its own.
    assert error["message"].startswith("The request has 2 invalid field(s): ")
    assert "amount: JPY has 0 decimal place(s)" in error["message"]
    assert "payment_method: required" in error["message"]
    info = _detail(error, "google.rpc.ErrorInfo", error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("VALIDATION_FAILED", "paycore")
    bad = _detail(error, "google.rpc.BadRequest", error_details_pb2.BadRequest)
    assert {v.field for v in bad.field_violations} == {"amount", "payment_method"}


async def test_buf_curl_error_details_decode_offline_with_the_vendored_protos(
    server: PaycoreServer, metadata: Metadata
) -> None:
    # The recipe of docs/CLIENTS.md: the base64 detail, decoded by `buf convert`
    # with protos/vendor/google/rpc/error_details.proto, no server involved.
    _, _, err = await _buf_curl(server, metadata, "CreatePayment", {"requestId": "r-2"})
    (value,) = [
        d["value"] for d in json.loads(err)["details"] if d["type"] == "google.rpc.BadRequest"
    ]
    process = await asyncio.create_subprocess_exec(
        buf_executable(),
        "convert",
        ".",
        "--type",
        "google.rpc.BadRequest",
        "--from",
        "-#format=binpb",
        "--to",
        "-#format=json",
        cwd=REPO,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, errors = await asyncio.wait_for(
        process.communicate(base64.b64decode(value + "=" * (-len(value) % 4))), timeout=60
    )
    assert process.returncode == 0, errors.decode()
    violations = json.loads(out)["fieldViolations"]
    assert {v["field"] for v in violations} == {"amount", "payment_method"}
