"""The RPC mixes the harness measures: what each call sends and what counts as served.

A scenario is one PaymentService method with the request a merchant sends:

- ``create``: CreatePayment with a raw sandbox card (automatic capture);
- ``create-token``: CreatePayment with a card token the merchant made once,
  before any timed window (TokenizeCard), so the timed calls never see a PAN;
- ``get``: GetPayment of one of the merchant's own payments;
- ``list``: ListPayments, a page of ``LIST_PAGE`` of the merchant's payments.

A create counts as served only when the payment came back CAPTURED (the sandbox
Visa always captures; anything else is a failure, ``NOT_CAPTURED``). The echo
server (bench/echo_server.py) answers every method with fixed bytes of the same
size, so the same requests drive both servers.

``prepare`` makes what the reads and token creates need, through paycore itself:
per merchant a card token and ``LIST_PAGE`` captured payments. It runs once per
run (the rows stay in the database across servers and rounds).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
from google.protobuf.message import Message
from google.type import money_pb2

from paycore.v1 import card_vault_service_pb2 as vault
from paycore.v1 import card_vault_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc

SANDBOX_VISA = "4242424242424242"
"""Always authorized and captured by the sandbox channel (router/channels/sandbox.py)."""
LIST_PAGE = 10
"""Payments per ListPayments page (each merchant has at least this many)."""
CALL_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Context:
    """What one merchant's requests refer to (made by ``prepare``)."""

    card_token: str = ""
    payment_id: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One measured RPC."""

    name: str
    method: str
    """The PaymentService method called."""
    writes: bool
    """Creates a payment (counted only when captured; costs are per create)."""


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("create", "CreatePayment", writes=True),
        Scenario("create-token", "CreatePayment", writes=True),
        Scenario("get", "GetPayment", writes=False),
        Scenario("list", "ListPayments", writes=False),
    )
}
DEFAULT_SCENARIOS = ("create", "get", "list", "create-token")
"""Token creates last: at 64 callers they can exhaust the pool (issue 16, 1) and stall the rest."""


def card_data() -> pb.CardData:
    """The sandbox Visa, valid for three more years."""
    return pb.CardData(
        number=SANDBOX_VISA,
        exp_month=12,
        exp_year=datetime.now(UTC).year + 3,
        cvc="123",
        holder_name="Bench Mark",
    )


def create_payment_request(card_token: str = "") -> svc.CreatePaymentRequest:
    """10.00 USD captured at once, with a fresh request_id: by ``card_token``, else the Visa."""
    method = (
        pb.PaymentMethodData(card_token=card_token)
        if card_token
        else pb.PaymentMethodData(card=card_data())
    )
    return svc.CreatePaymentRequest(
        request_id=str(uuid.uuid4()),
        amount=money_pb2.Money(currency_code="USD", units=10),
        capture_method=pb.CAPTURE_METHOD_AUTOMATIC,
        payment_method=method,
    )


def build_request(scenario: str, context: Context) -> Message:
    """The request one call of ``scenario`` sends for a merchant with ``context``."""
    if scenario == "create":
        return create_payment_request()
    if scenario == "create-token":
        return create_payment_request(card_token=context.card_token)
    if scenario == "get":
        return svc.GetPaymentRequest(payment_id=context.payment_id)
    if scenario == "list":
        return svc.ListPaymentsRequest(page_size=LIST_PAGE)
    raise ValueError(f"unknown scenario {scenario!r}")


async def call(
    stub: payment_service_pb2_grpc.PaymentServiceAsyncStub,
    scenario: str,
    request: Message,
    metadata: tuple[tuple[str, str], ...],
) -> str:
    """Send one call; its outcome: ``OK``, a gRPC status name, or ``NOT_CAPTURED``."""
    method = getattr(stub, SCENARIOS[scenario].method)
    try:
        response = await method(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as error:
        return str(error.code().name)
    if SCENARIOS[scenario].writes and response.payment.state != pb.Payment.STATE_CAPTURED:
        return "NOT_CAPTURED"
    return "OK"


async def prepare(target: str, api_keys: Sequence[str]) -> list[Context]:
    """Per merchant: a card token and ``LIST_PAGE`` captured payments, made through paycore."""
    async with grpc.aio.insecure_channel(target) as channel:
        payments = payment_service_pb2_grpc.PaymentServiceStub(channel)
        cards = card_vault_service_pb2_grpc.CardVaultServiceStub(channel)
        # A few merchants at a time: the setup should not be a benchmark of its own.
        limit = asyncio.Semaphore(8)

        async def one(api_key: str) -> Context:
            metadata = (("authorization", f"Bearer {api_key}"),)
            async with limit:
                token = await cards.TokenizeCard(
                    vault.TokenizeCardRequest(request_id=str(uuid.uuid4()), card=card_data()),
                    metadata=metadata,
                    timeout=CALL_TIMEOUT_S,
                )
                first = ""
                for _ in range(LIST_PAGE):
                    created = await payments.CreatePayment(
                        create_payment_request(), metadata=metadata, timeout=CALL_TIMEOUT_S
                    )
                    first = first or created.payment.id
            return Context(card_token=token.token.id, payment_id=first)

        return list(await asyncio.gather(*(one(key) for key in api_keys)))


async def replayed_request(target: str, api_key: str) -> bytes:
    """A CreatePayment that paycore has answered OK once: h2load then replays it."""
    request = create_payment_request()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = payment_service_pb2_grpc.PaymentServiceStub(channel)
        metadata = (("authorization", f"Bearer {api_key}"),)
        first = await stub.CreatePayment(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        again = await stub.CreatePayment(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
    if again.payment.id != first.payment.id:
        raise RuntimeError("a replay did not answer the same payment: h2load would measure junk")
    return request.SerializeToString()
