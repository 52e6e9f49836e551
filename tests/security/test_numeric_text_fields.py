"""Numeric text fields take ASCII 0-9 only: any other Unicode digit is a field violation.

Python's ``isdigit``/``int()`` accept full-width, Arabic-Indic, superscript...
digits. paycore once accepted them in card numbers and CVCs (a database CHECK
or ``int('²')`` then answered INTERNAL) and, worse, paid a full-width card
number whose ASCII spelling a BIN block list declines (issue 16). Here every
numeric text field of the API is sent digits from every Unicode category of
numbers (Nd, Nl, No) through the real gRPC server: each request must be
INVALID_ARGUMENT with a BadRequest naming the field, and nothing is stored.

Hypothesis drives a blocking gRPC channel from a worker thread while the
server runs on the test's event loop (as in test_fuzz_rpcs.py).
"""

from __future__ import annotations

import asyncio
import base64
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.api.server import PaycoreServer
from core.app import Services
from core.auth.policy import Role
from core.domain.digits import ASCII_DIGITS
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import (
    account_service_pb2_grpc,
    card_vault_service_pb2_grpc,
    payment_service_pb2_grpc,
    risk_service_pb2_grpc,
    webhook_service_pb2_grpc,
)
from paycore.v1 import card_vault_service_pb2 as vault
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from paycore.v1 import risk_service_pb2 as risk
from paycore.v1 import routing_service_pb2 as routing
from paycore.v1 import webhook_service_pb2 as wh
from tests.support.auth import Metadata, merchant_metadata
from tests.support.expect import expect_invalid
from tests.support.requests import EXP_YEAR, VISA, card, create_request, new_request_id

EXAMPLES_PER_FIELD = 25

PAYMENT_ID = "pay_" + "0" * 26  # well formed: validation runs before any lookup
ACCOUNT_ID = "acct_" + "0" * 26


@dataclass(frozen=True)
class NumericField:
    """One numeric text field: the RPC, a valid ASCII value, and the request carrying a value."""

    rpc: str
    path: str
    """The field's path in the request, as its BadRequest violation names it."""
    valid: str
    request: Callable[[str], Message]


def _card_data(number: str = VISA, cvc: str = "123") -> pb.CardData:
    return pb.CardData(number=number, exp_month=12, exp_year=EXP_YEAR, cvc=cvc)


def _method(number: str = VISA, cvc: str = "123") -> pb.PaymentMethodData:
    return pb.PaymentMethodData(card=_card_data(number, cvc))


def _day_request(kind: Any) -> Callable[[str], Message]:
    def request(day: str) -> Message:
        fields = {"currency_code": "USD", "business_date": day}
        if kind is acc.RunSettlementRequest:
            fields["request_id"] = new_request_id()
        message: Message = kind(**fields)
        return message

    return request


FIELDS = [
    NumericField(
        "CardVaultService/TokenizeCard",
        "card.number",
        VISA,
        lambda n: vault.TokenizeCardRequest(request_id=new_request_id(), card=_card_data(n)),
    ),
    NumericField(
        "CardVaultService/TokenizeCard",
        "card.cvc",
        "123",
        lambda c: vault.TokenizeCardRequest(request_id=new_request_id(), card=_card_data(cvc=c)),
    ),
    NumericField(
        "PaymentService/CreatePayment",
        "payment_method.card.number",
        VISA,
        lambda n: create_request(payment_method=_method(n)),
    ),
    NumericField(
        "PaymentService/CreatePayment",
        "payment_method.card.cvc",
        "1234",
        lambda c: create_request(payment_method=_method(cvc=c)),
    ),
    NumericField(
        "PaymentService/ConfirmPayment",
        "payment_method.card.number",
        VISA,
        lambda n: svc.ConfirmPaymentRequest(
            request_id=new_request_id(), payment_id=PAYMENT_ID, payment_method=_method(n)
        ),
    ),
    NumericField(
        "AccountService/TopUpWallet",
        "payment_method.card.number",
        VISA,
        lambda n: acc.TopUpWalletRequest(
            request_id=new_request_id(),
            account_id=ACCOUNT_ID,
            amount=create_request().amount,
            payment_method=_method(n),
        ),
    ),
    NumericField(
        "AccountService/WithdrawFunds",
        "bank_account",
        "DE89370400440532013000",
        lambda iban: acc.WithdrawFundsRequest(
            request_id=new_request_id(),
            account_id=ACCOUNT_ID,
            amount=create_request().amount,
            bank_account=iban,
        ),
    ),
    NumericField(
        "RiskService/ScoreTransaction",
        "payment_method.card.number",
        VISA,
        lambda n: risk.ScoreTransactionRequest(
            amount=create_request().amount, payment_method=_method(n)
        ),
    ),
    NumericField(
        "RiskService/AddBlocklistEntry",
        "value",
        "424242",
        lambda b: risk.AddBlocklistEntryRequest(
            request_id=new_request_id(),
            list=risk.BlocklistEntry.LIST_BLOCK,
            kind=risk.BlocklistEntry.KIND_BIN,
            value=b,
        ),
    ),
    NumericField(
        "RoutingService/SetMerchantRouting",
        "chain.rules[0].bins",
        "424242",
        lambda b: routing.SetMerchantRoutingRequest(
            request_id=new_request_id(),
            chain=routing.RoutingChain(
                strategies=["rules"],
                rules=[routing.RoutingRule(name="bins", channels=["acquirer_a"], bins=[b])],
            ),
        ),
    ),
    NumericField(
        "AccountService/RunSettlement",
        "business_date",
        "2020-01-15",
        _day_request(acc.RunSettlementRequest),
    ),
    NumericField(
        "AccountService/GetSettlementReport",
        "business_date",
        "2020-01-15",
        _day_request(acc.GetSettlementReportRequest),
    ),
    NumericField(
        "AccountService/ExportSettlementReport",
        "business_date",
        "2020-01-15",
        _day_request(acc.ExportSettlementReportRequest),
    ),
]

# Every character where str.isdigit() or str.isnumeric() is true is in one of Nd, Nl, No.
_NUMBERS = st.characters(categories=["Nd", "Nl", "No"], exclude_characters=ASCII_DIGITS)
_DECIMAL_DIGITS = st.characters(categories=["Nd"], exclude_characters=ASCII_DIGITS)


@st.composite
def _foreign_spelling(draw: st.DrawFn, valid: str) -> str:
    """``valid`` with non-ASCII digits: all of it in another script, or one number swapped in.

    The first keeps every digit's value (``int()`` reads the same number: the
    bypass of a BIN rule); the second puts any number character (a superscript,
    a Roman numeral, a fraction) where a digit was.
    """
    positions = [i for i, char in enumerate(valid) if char in ASCII_DIGITS]
    if draw(st.booleans()):
        sample = draw(_DECIMAL_DIGITS)
        zero = ord(sample) - unicodedata.decimal(sample)
        return "".join(chr(zero + int(c)) if c in ASCII_DIGITS else c for c in valid)
    at = draw(st.sampled_from(positions))
    return valid[:at] + draw(_NUMBERS) + valid[at + 1 :]


def _violated_fields(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, error
    found = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            found += [violation.field for violation in bad.field_violations]
    return found


def _check_field(channel: grpc.Channel, field: NumericField, metadata: Metadata) -> int:
    call = channel.unary_unary(
        f"/paycore.v1.{field.rpc}", request_serializer=None, response_deserializer=None
    )
    tried = 0

    @settings(
        max_examples=EXAMPLES_PER_FIELD,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(value=_foreign_spelling(field.valid))
    def one(value: str) -> None:
        nonlocal tried
        tried += 1
        payload = field.request(value).SerializeToString()
        try:
            call(payload, metadata=metadata, timeout=20)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, value, error)
            assert _violated_fields(error) == [field.path], (field, value, error.details())
        else:
            raise AssertionError(f"{field.rpc} accepted {field.path}={value!r}")

    one()
    return tried


def _check_all(port: int, metadata: Metadata) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return sum(_check_field(channel, field, metadata) for field in FIELDS)


async def merchant_rows(pool: asyncpg.Pool, merchant_id: str) -> dict[str, int]:
    """How many rows every table with a merchant_id column holds for ``merchant_id``."""
    tables = await pool.fetch(
        "SELECT table_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND column_name = 'merchant_id'"
        " ORDER BY table_name"
    )
    counts = {}
    for row in tables:
        name = row["table_name"]
        counts[name] = await pool.fetchval(
            f'SELECT count(*) FROM "{name}" WHERE merchant_id = $1', merchant_id
        )
    return counts


async def test_every_numeric_text_field_refuses_digits_that_are_not_ascii(
    server: PaycoreServer, services: Services, merchant_id: str
) -> None:
    # An admin key of a merchant allowed raw card data reaches every field's validation.
    metadata = await merchant_metadata(services.pool, merchant_id, Role.ADMIN)
    before = await merchant_rows(services.pool, merchant_id)

    tried = await asyncio.to_thread(_check_all, server.port, metadata)

    assert tried >= len(FIELDS) * EXAMPLES_PER_FIELD // 2
    assert await merchant_rows(services.pool, merchant_id) == before  # nothing was stored


FULL_WIDTH_VISA = VISA.translate({ord(d): 0xFF10 + int(d) for d in ASCII_DIGITS})


async def test_a_blocked_bin_cannot_be_paid_by_writing_the_card_in_full_width_digits(
    grpc_channel: grpc.aio.Channel,
    metadata: Metadata,
    admin_metadata: Metadata,
    services: Services,
    merchant_id: str,
) -> None:
    stub: Any = payment_service_pb2_grpc.PaymentServiceStub(grpc_channel)
    risk_stub: Any = risk_service_pb2_grpc.RiskServiceStub(grpc_channel)
    entry = risk.AddBlocklistEntryRequest(
        request_id=new_request_id(),
        list=risk.BlocklistEntry.LIST_BLOCK,
        kind=risk.BlocklistEntry.KIND_BIN,
        value=VISA[:6],
    )
    await risk_stub.AddBlocklistEntry(entry, metadata=admin_metadata)
    ascii_reply = await stub.CreatePayment(create_request(), metadata=metadata)
    assert ascii_reply.payment.state == pb.Payment.STATE_DECLINED
    before = await merchant_rows(services.pool, merchant_id)

    await expect_invalid(
        stub.CreatePayment(create_request(payment_method=card(FULL_WIDTH_VISA)), metadata=metadata),
        "payment_method.card.number",
    )

    assert await merchant_rows(services.pool, merchant_id) == before


async def test_a_superscript_digit_in_a_card_number_is_a_field_violation(
    grpc_channel: grpc.aio.Channel, metadata: Metadata
) -> None:
    vault_stub: Any = card_vault_service_pb2_grpc.CardVaultServiceStub(grpc_channel)
    await expect_invalid(
        vault_stub.TokenizeCard(
            vault.TokenizeCardRequest(
                request_id=new_request_id(), card=_card_data(VISA[:-1] + "\u00b2")
            ),
            metadata=metadata,
        ),
        "card.number",
    )


async def test_settling_the_last_representable_day_is_a_field_violation(
    grpc_channel: grpc.aio.Channel, admin_metadata: Metadata
) -> None:
    accounts: Any = account_service_pb2_grpc.AccountServiceStub(grpc_channel)
    for day in ("9999-12-31", "2026-W02-1", "20260105"):
        await expect_invalid(
            accounts.RunSettlement(
                acc.RunSettlementRequest(
                    request_id=new_request_id(), currency_code="USD", business_date=day
                ),
                metadata=admin_metadata,
            ),
            "business_date",
        )


async def test_a_delivery_page_token_spelling_its_number_another_way_is_refused(
    grpc_channel: grpc.aio.Channel, metadata: Metadata
) -> None:
    # The token is unsigned (base64 of a delivery id): what comes back is client text.
    webhooks: Any = webhook_service_pb2_grpc.WebhookServiceStub(grpc_channel)
    for number in ("99999999999999999999", "\u0661\u0662", " 12", "1_2", "+12"):
        token = base64.urlsafe_b64encode(number.encode()).decode().rstrip("=")
        await expect_invalid(
            webhooks.ListWebhookDeliveries(
                wh.ListWebhookDeliveriesRequest(page_token=token), metadata=metadata
            ),
            "page_token",
            reason="INVALID_PAGE_TOKEN",
        )


async def test_an_ip_country_with_a_digit_in_it_is_a_field_violation(
    grpc_channel: grpc.aio.Channel, metadata: Metadata
) -> None:
    # "U1".isupper() is True: a country code is checked as two ASCII capitals instead.
    payments: Any = payment_service_pb2_grpc.PaymentServiceStub(grpc_channel)
    for country in ("U1", "U\uff33"):
        await expect_invalid(
            payments.CreatePayment(
                create_request(risk_context=pb.RiskContext(ip_country=country)), metadata=metadata
            ),
            "risk_context.ip_country",
        )
