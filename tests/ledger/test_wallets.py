"""Wallets end to end: top-up from a card, paying from the wallet, refunds back into it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import grpc

from core.app import Services
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import payment_pb2 as pb
from tests.support.api import Api
from tests.support.auth import Metadata
from tests.support.expect import error_info, expect_error, expect_invalid
from tests.support.requests import CARD_DECLINED, card, cents, new_request_id, usd

from .conftest import available_cents
from .invariants import assert_ledger_consistent

if TYPE_CHECKING:
    from paycore.v1 import account_service_pb2_grpc

    Stub = account_service_pb2_grpc.AccountServiceAsyncStub

FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


async def _wallet(stub: Stub, metadata: Metadata) -> str:
    request = acc.CreateAccountRequest(request_id=new_request_id(), currency_code="USD")
    return (await stub.CreateAccount(request, metadata=metadata)).account.id


async def _top_up(
    stub: Stub, metadata: Metadata, wallet: str, units: int, **fields: Any
) -> pb.Payment:
    fields.setdefault("payment_method", card())
    request = acc.TopUpWalletRequest(
        request_id=new_request_id(), account_id=wallet, amount=usd(units), **fields
    )
    return (await stub.TopUpWallet(request, metadata=metadata)).payment


def _pay(stub: Stub, metadata: Metadata, wallet: str, units: int) -> Any:
    request = acc.PayFromWalletRequest(
        request_id=new_request_id(), account_id=wallet, amount=usd(units), description="order 7"
    )
    return stub.PayFromWallet(request, metadata=metadata)


async def test_top_up_pay_from_wallet_refund_and_statement(
    api: Api, accounts_stub: Stub, metadata: Metadata, services: Services
) -> None:
    wallet = await _wallet(accounts_stub, metadata)
    top_up = await _top_up(accounts_stub, metadata, wallet, 50)
    assert top_up.state == pb.Payment.STATE_CAPTURED
    assert await available_cents(accounts_stub, metadata, wallet) == 5_000

    paid = (await _pay(accounts_stub, metadata, wallet, 20)).payment
    assert (paid.state, paid.metadata["paycore.wallet_account_id"]) == (
        pb.Payment.STATE_CAPTURED,
        wallet,
    )
    assert await available_cents(accounts_stub, metadata, wallet) == 3_000
    assert await available_cents(accounts_stub, metadata, "merchant_pending.USD") == 2_000

    refund = await api.refund(paid.id, usd(5))
    assert refund.payment.state == pb.Payment.STATE_PARTIALLY_REFUNDED
    assert await available_cents(accounts_stub, metadata, wallet) == 3_500
    assert await available_cents(accounts_stub, metadata, "merchant_pending.USD") == 1_500

    statement = await accounts_stub.ListAccountEntries(
        acc.ListAccountEntriesRequest(account_id=wallet), metadata=metadata
    )
    assert [(e.kind, cents(e.amount), e.reference) for e in statement.entries] == [
        (acc.AccountEntry.KIND_REFUND, 500, paid.id),
        (acc.AccountEntry.KIND_CAPTURE, -2_000, paid.id),
        (acc.AccountEntry.KIND_CAPTURE, 5_000, top_up.id),
    ]
    await assert_ledger_consistent(services.pool, api.merchant_id)


async def test_a_wallet_payment_beyond_the_balance_creates_nothing(
    api: Api, accounts_stub: Stub, metadata: Metadata
) -> None:
    wallet = await _wallet(accounts_stub, metadata)
    await _top_up(accounts_stub, metadata, wallet, 10)
    error = await expect_error(
        _pay(accounts_stub, metadata, wallet, 11), FAILED_PRECONDITION, "INSUFFICIENT_FUNDS"
    )
    assert error_info(error).metadata["account_id"] == wallet
    payments = await api.list_all()
    assert [p.metadata.get("paycore.top_up_account_id") for p in payments] == [wallet]


async def test_parallel_wallet_payments_never_overdraw(
    api: Api, accounts_stub: Stub, metadata: Metadata, services: Services
) -> None:
    wallet = await _wallet(accounts_stub, metadata)
    await _top_up(accounts_stub, metadata, wallet, 50)
    results = await asyncio.gather(
        *(_pay(accounts_stub, metadata, wallet, 10) for _ in range(20)), return_exceptions=True
    )
    paid = [r for r in results if isinstance(r, acc.PayFromWalletResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(paid) == 5
    assert {error_info(e).reason for e in refused} == {"INSUFFICIENT_FUNDS"}
    assert await available_cents(accounts_stub, metadata, wallet) == 0
    await assert_ledger_consistent(services.pool, api.merchant_id)


async def test_a_top_up_is_scored_routed_and_not_refundable_to_the_card(
    api: Api, accounts_stub: Stub, metadata: Metadata, services: Services
) -> None:
    wallet = await _wallet(accounts_stub, metadata)
    declined = await _top_up(
        accounts_stub, metadata, wallet, 10, payment_method=card(CARD_DECLINED)
    )
    assert declined.state == pb.Payment.STATE_DECLINED
    assert await available_cents(accounts_stub, metadata, wallet) == 0
    top_up = await _top_up(accounts_stub, metadata, wallet, 10)
    assert top_up.risk.decision == pb.RiskAssessment.DECISION_APPROVE
    await expect_error(api.refund(top_up.id), FAILED_PRECONDITION, "TOP_UP_NOT_REFUNDABLE")
    await assert_ledger_consistent(services.pool, api.merchant_id)


async def test_wallet_rpcs_refuse_what_is_not_a_wallet(
    api: Api, accounts_stub: Stub, metadata: Metadata
) -> None:
    await expect_error(
        _pay(accounts_stub, metadata, "merchant_available.USD", 1),
        grpc.StatusCode.NOT_FOUND,
        "ACCOUNT_NOT_FOUND",
    )
    wallet = await _wallet(accounts_stub, metadata)
    await api.captured()  # opens merchant_pending.USD
    await expect_error(
        _pay(accounts_stub, metadata, "merchant_pending.USD", 1),
        FAILED_PRECONDITION,
        "ACCOUNT_NOT_A_WALLET",
    )
    await expect_invalid(
        accounts_stub.TopUpWallet(acc.TopUpWalletRequest(account_id=wallet), metadata=metadata),
        "request_id",
        "amount",
        "payment_method",
    )
    await expect_invalid(api.create(metadata={"paycore.top_up_account_id": wallet}), "metadata")
