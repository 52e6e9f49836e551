"""AccountService end to end: wallets, balances, transfers, statements, and their refusals."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import asyncpg
import grpc

from core.app import Services
from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc
from tests.support.auth import Metadata, merchant_metadata
from tests.support.expect import error_info, expect_error, expect_invalid
from tests.support.requests import money, new_merchant_id, new_request_id, usd

from .conftest import available_cents, book_opening_balance
from .invariants import assert_ledger_consistent

if TYPE_CHECKING:
    Stub = account_service_pb2_grpc.AccountServiceAsyncStub
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
AVAILABLE = "merchant_available.USD"


async def _wallet(stub: Stub, metadata: Metadata, **fields: Any) -> acc.Account:
    fields.setdefault("currency_code", "USD")
    request = acc.CreateAccountRequest(request_id=new_request_id(), **fields)
    return (await stub.CreateAccount(request, metadata=metadata)).account


async def _transfer(
    stub: Stub, metadata: Metadata, source: str, target: str, cents: int, **fields: Any
) -> acc.TransferFundsResponse:
    fields.setdefault("request_id", new_request_id())
    request = acc.TransferFundsRequest(
        from_account_id=source, to_account_id=target, amount=usd(*divmod(cents, 100)), **fields
    )
    return await stub.TransferFunds(request, metadata=metadata)


async def test_create_account_opens_an_empty_wallet_once_per_request_id(
    accounts_stub: Stub, metadata: Metadata
) -> None:
    request = acc.CreateAccountRequest(
        request_id=new_request_id(), currency_code="EUR", customer_id="cus_1", description="Jo"
    )
    first = (await accounts_stub.CreateAccount(request, metadata=metadata)).account
    again = (await accounts_stub.CreateAccount(request, metadata=metadata)).account
    assert first == again
    assert first.id.startswith("acct_")
    assert (first.kind, first.currency_code, first.customer_id) == (
        acc.Account.KIND_CUSTOMER_WALLET,
        "EUR",
        "cus_1",
    )
    assert not first.allow_overdraft
    assert first.balance.posted == money(0, currency="EUR")
    got = await accounts_stub.GetAccount(
        acc.GetAccountRequest(account_id=first.id), metadata=metadata
    )
    assert got.account == first


async def test_another_merchants_account_is_not_found(
    accounts_stub: Stub, metadata: Metadata, services: Services
) -> None:
    wallet = await _wallet(accounts_stub, metadata)
    other = await merchant_metadata(services.pool, new_merchant_id())
    await expect_error(
        accounts_stub.GetAccount(acc.GetAccountRequest(account_id=wallet.id), metadata=other),
        grpc.StatusCode.NOT_FOUND,
        "ACCOUNT_NOT_FOUND",
    )
    mine = await _wallet(accounts_stub, other)
    await expect_error(
        _transfer(accounts_stub, other, wallet.id, mine.id, 1),
        grpc.StatusCode.NOT_FOUND,
        "ACCOUNT_NOT_FOUND",
    )


async def test_bad_requests_name_their_fields(accounts_stub: Stub, metadata: Metadata) -> None:
    await expect_invalid(
        accounts_stub.CreateAccount(
            acc.CreateAccountRequest(currency_code="usd"), metadata=metadata
        ),
        "request_id",
        "currency_code",
    )
    await expect_invalid(
        accounts_stub.GetAccount(acc.GetAccountRequest(account_id="nope"), metadata=metadata),
        "account_id",
    )
    await expect_invalid(
        accounts_stub.TransferFunds(
            acc.TransferFundsRequest(
                request_id=new_request_id(), from_account_id=AVAILABLE, to_account_id=AVAILABLE
            ),
            metadata=metadata,
        ),
        "to_account_id",
        "amount",
    )
    for token in ("forged", "Zm9yZ2Vk.signé"):  # the second: a signature that is not ASCII
        await expect_invalid(
            accounts_stub.ListAccountEntries(
                acc.ListAccountEntriesRequest(account_id=AVAILABLE, page_token=token),
                metadata=metadata,
            ),
            "page_token",
            reason="INVALID_PAGE_TOKEN",
        )


async def test_transfer_moves_money_and_refuses_more_than_is_available(
    accounts_stub: Stub, metadata: Metadata, merchant_id: str, db: asyncpg.Pool
) -> None:
    await book_opening_balance(db, merchant_id, AVAILABLE, 10_000)
    wallet = await _wallet(accounts_stub, metadata)
    moved = await _transfer(
        accounts_stub, metadata, AVAILABLE, wallet.id, 2_500, description="gift"
    )
    assert moved.from_account.balance.available == usd(75)
    assert moved.to_account.balance.available == usd(25)
    error = await expect_error(
        _transfer(accounts_stub, metadata, wallet.id, AVAILABLE, 2_501),
        FAILED_PRECONDITION,
        "INSUFFICIENT_FUNDS",
    )
    assert error_info(error).metadata["account_id"] == wallet.id
    assert await available_cents(accounts_stub, metadata, wallet.id) == 2_500
    await assert_ledger_consistent(db, merchant_id)


async def test_transfer_replays_its_reply_for_the_same_request_id(
    accounts_stub: Stub, metadata: Metadata, merchant_id: str, db: asyncpg.Pool
) -> None:
    await book_opening_balance(db, merchant_id, AVAILABLE, 1_000)
    wallet = await _wallet(accounts_stub, metadata)
    request_id = new_request_id()
    first = await _transfer(
        accounts_stub, metadata, AVAILABLE, wallet.id, 600, request_id=request_id
    )
    again = await _transfer(
        accounts_stub, metadata, AVAILABLE, wallet.id, 600, request_id=request_id
    )
    assert first == again
    assert await available_cents(accounts_stub, metadata, wallet.id) == 600
    await expect_error(
        _transfer(accounts_stub, metadata, AVAILABLE, wallet.id, 700, request_id=request_id),
        grpc.StatusCode.INVALID_ARGUMENT,
        "IDEMPOTENCY_KEY_REUSED",
    )


async def test_only_wallets_and_the_available_balance_move_by_transfer(
    accounts_stub: Stub, metadata: Metadata, merchant_id: str, db: asyncpg.Pool
) -> None:
    await book_opening_balance(db, merchant_id, AVAILABLE, 1_000)
    wallet = await _wallet(accounts_stub, metadata)
    for system in ("merchant_pending.USD", "fee_revenue.USD", "clearing.sandbox_card.USD"):
        await expect_error(
            _transfer(accounts_stub, metadata, AVAILABLE, system, 1),
            FAILED_PRECONDITION,
            "ACCOUNT_NOT_TRANSFERABLE",
        )
    euro = await _wallet(accounts_stub, metadata, currency_code="EUR")
    await expect_error(
        _transfer(accounts_stub, metadata, wallet.id, euro.id, 1),
        grpc.StatusCode.INVALID_ARGUMENT,
        "ACCOUNT_CURRENCY_MISMATCH",
    )
    await assert_ledger_consistent(db, merchant_id)


async def test_parallel_spends_never_overdraw_a_wallet(
    accounts_stub: Stub, metadata: Metadata, merchant_id: str, db: asyncpg.Pool
) -> None:
    wallet = await _wallet(accounts_stub, metadata)
    await book_opening_balance(db, merchant_id, wallet.id, 1_000)
    results = await asyncio.gather(
        *(_transfer(accounts_stub, metadata, wallet.id, AVAILABLE, 100) for _ in range(40)),
        return_exceptions=True,
    )
    spent = [r for r in results if isinstance(r, acc.TransferFundsResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(spent) == 10, [r for r in results if not isinstance(r, acc.TransferFundsResponse)][
        :3
    ]
    assert {error_info(e).reason for e in refused} == {"INSUFFICIENT_FUNDS"}
    assert len(refused) == 30
    assert await available_cents(accounts_stub, metadata, wallet.id) == 0
    assert await available_cents(accounts_stub, metadata, AVAILABLE) == 1_000
    await assert_ledger_consistent(db, merchant_id)


async def test_statement_pages_newest_first(
    accounts_stub: Stub, metadata: Metadata, merchant_id: str, db: asyncpg.Pool
) -> None:
    await book_opening_balance(db, merchant_id, AVAILABLE, 1_000)
    wallet = await _wallet(accounts_stub, metadata)
    for cents in (1, 2, 3, 4, 5):
        await _transfer(
            accounts_stub, metadata, AVAILABLE, wallet.id, cents, description=f"n{cents}"
        )
    seen: list[acc.AccountEntry] = []
    token = ""
    while True:
        page = await accounts_stub.ListAccountEntries(
            acc.ListAccountEntriesRequest(account_id=wallet.id, page_size=2, page_token=token),
            metadata=metadata,
        )
        seen.extend(page.entries)
        token = page.next_page_token
        if not token:
            break
    assert [e.description for e in seen] == ["n5", "n4", "n3", "n2", "n1"]
    assert all(e.kind == acc.AccountEntry.KIND_TRANSFER for e in seen)
    assert seen[0].amount == usd(0, 5)
    source = await accounts_stub.ListAccountEntries(
        acc.ListAccountEntriesRequest(account_id=AVAILABLE, page_size=1), metadata=metadata
    )
    assert source.entries[0].amount == money(0, -50_000_000)
