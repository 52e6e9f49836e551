"""Withdrawals: held at once, PENDING until the bank answers, posted or released then."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc

from core.app import Services
from paycore.v1 import account_service_pb2 as acc
from tests.support.auth import Metadata
from tests.support.expect import error_info, expect_error, expect_invalid
from tests.support.requests import cents, new_request_id, usd

from .conftest import book_opening_balance
from .invariants import assert_ledger_consistent

if TYPE_CHECKING:
    from paycore.v1 import account_service_pb2_grpc

    Stub = account_service_pb2_grpc.AccountServiceAsyncStub

AVAILABLE = "merchant_available.USD"
IBAN = "DE89370400440532013000"


async def _withdraw(stub: Stub, metadata: Metadata, units: int, **fields: Any) -> Any:
    fields.setdefault("request_id", new_request_id())
    request = acc.WithdrawFundsRequest(
        account_id=AVAILABLE, amount=usd(units), bank_account=IBAN, **fields
    )
    return await stub.WithdrawFunds(request, metadata=metadata)


async def _balance(stub: Stub, metadata: Metadata) -> acc.AccountBalance:
    request = acc.GetAccountRequest(account_id=AVAILABLE)
    return (await stub.GetAccount(request, metadata=metadata)).account.balance


async def test_a_withdrawal_holds_then_posts_or_releases(
    accounts_stub: Stub, metadata: Metadata, merchant_id: str, services: Services
) -> None:
    await book_opening_balance(services.pool, merchant_id, AVAILABLE, 10_000)
    paid_out = (await _withdraw(accounts_stub, metadata, 30)).withdrawal
    refused = (await _withdraw(accounts_stub, metadata, 20)).withdrawal
    assert (paid_out.state, paid_out.bank_account_last4) == (acc.Withdrawal.STATE_PENDING, "3000")
    held = await _balance(accounts_stub, metadata)
    assert (cents(held.posted), cents(held.available)) == (10_000, 5_000)

    # The bank channel's answers (issue 5 wires its callback to complete_withdrawal).
    await services.accounts.complete_withdrawal(merchant_id, paid_out.id, succeeded=True)
    await services.accounts.complete_withdrawal(merchant_id, refused.id, succeeded=False)
    again = await services.accounts.complete_withdrawal(merchant_id, refused.id, succeeded=True)
    assert again.state.value == "failed"  # the first answer stands
    after = await _balance(accounts_stub, metadata)
    assert (cents(after.posted), cents(after.available), cents(after.pending_debits)) == (
        7_000,
        7_000,
        0,
    )
    got = await accounts_stub.GetWithdrawal(
        acc.GetWithdrawalRequest(withdrawal_id=paid_out.id), metadata=metadata
    )
    assert got.withdrawal.state == acc.Withdrawal.STATE_SUCCEEDED
    await assert_ledger_consistent(services.pool, merchant_id)


async def test_a_withdrawal_beyond_the_balance_creates_nothing(
    accounts_stub: Stub, metadata: Metadata, merchant_id: str, services: Services
) -> None:
    await book_opening_balance(services.pool, merchant_id, AVAILABLE, 1_000)
    await _withdraw(accounts_stub, metadata, 6)
    error = await expect_error(
        _withdraw(accounts_stub, metadata, 5),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INSUFFICIENT_FUNDS",
    )
    assert error_info(error).metadata["account_id"] == AVAILABLE
    count = await services.pool.fetchval(
        "SELECT count(*) FROM ledger_withdrawals WHERE merchant_id = $1", merchant_id
    )
    assert count == 1
    await assert_ledger_consistent(services.pool, merchant_id)


async def test_withdrawals_check_their_input_and_replay(
    accounts_stub: Stub, metadata: Metadata, merchant_id: str, services: Services
) -> None:
    await expect_invalid(
        accounts_stub.WithdrawFunds(
            acc.WithdrawFundsRequest(account_id=AVAILABLE, bank_account="x"), metadata=metadata
        ),
        "request_id",
        "bank_account",
        "amount",
    )
    await expect_error(
        accounts_stub.GetWithdrawal(
            acc.GetWithdrawalRequest(withdrawal_id="wd_01JD0Z8W7X6V5T4S3R2Q1P0N9M"),
            metadata=metadata,
        ),
        grpc.StatusCode.NOT_FOUND,
        "WITHDRAWAL_NOT_FOUND",
    )
    await book_opening_balance(services.pool, merchant_id, AVAILABLE, 1_000)
    first = await _withdraw(accounts_stub, metadata, 4, request_id="wd-1")
    second = await _withdraw(accounts_stub, metadata, 4, request_id="wd-1")
    assert first == second
    assert cents((await _balance(accounts_stub, metadata)).available) == 600
