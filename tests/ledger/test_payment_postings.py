"""Payments reach the ledger at the one place they are saved, in the same transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import grpc

from paycore.v1 import account_service_pb2 as acc
from paycore.v1 import account_service_pb2_grpc
from tests.support.api import Api
from tests.support.auth import Metadata
from tests.support.requests import CARD_DECLINED, REFUND_FAILS, card, manual_capture, usd

from .invariants import assert_ledger_consistent

if TYPE_CHECKING:
    Stub = account_service_pb2_grpc.AccountServiceAsyncStub
PENDING = "merchant_pending.USD"


async def _balance(stub: Stub, metadata: Metadata, account_id: str) -> acc.AccountBalance:
    request = acc.GetAccountRequest(account_id=account_id)
    return (await stub.GetAccount(request, metadata=metadata)).account.balance


async def test_authorization_holds_and_partial_capture_posts_the_captured_part(
    api: Api, accounts_stub: Stub, metadata: Metadata, db: asyncpg.Pool
) -> None:
    payment = await api.authorized()  # 10.00 USD
    held = await _balance(accounts_stub, metadata, PENDING)
    assert (held.pending_credits, held.posted) == (usd(10), usd(0))
    await assert_ledger_consistent(db, api.merchant_id)
    await api.capture(payment.id, usd(6))
    posted = await _balance(accounts_stub, metadata, PENDING)
    assert (posted.pending_credits, posted.posted) == (usd(0), usd(6))
    clearing = await _balance(accounts_stub, metadata, "clearing.sandbox_card.USD")
    assert clearing.posted == usd(-6)
    await assert_ledger_consistent(db, api.merchant_id)


async def test_void_releases_the_hold(
    api: Api, accounts_stub: Stub, metadata: Metadata, db: asyncpg.Pool
) -> None:
    await api.canceled()
    balance = await _balance(accounts_stub, metadata, PENDING)
    assert (balance.pending_credits, balance.posted) == (usd(0), usd(0))
    await assert_ledger_consistent(db, api.merchant_id)


async def test_refunds_post_the_reverse_and_failed_ones_post_nothing(
    api: Api, accounts_stub: Stub, metadata: Metadata, db: asyncpg.Pool
) -> None:
    payment = await api.captured()
    await api.refund(payment.id, usd(3))
    failing = await api.captured(payment_method=card(REFUND_FAILS))
    await api.refund(failing.id, usd(1))
    balance = await _balance(accounts_stub, metadata, PENDING)
    assert balance.posted == usd(17)  # 10 + 10 captured, 3 refunded, the failed 1 not
    entries = await accounts_stub.ListAccountEntries(
        acc.ListAccountEntriesRequest(account_id=PENDING), metadata=metadata
    )
    kinds = [(e.kind, e.reference) for e in entries.entries]
    assert kinds[0] == (acc.AccountEntry.KIND_CAPTURE, failing.id)
    assert (acc.AccountEntry.KIND_REFUND, payment.id) in kinds
    await assert_ledger_consistent(db, api.merchant_id)


async def test_declined_and_unconfirmed_payments_move_nothing(
    api: Api, accounts_stub: Stub, metadata: Metadata, db: asyncpg.Pool
) -> None:
    await api.create(payment_method=card(CARD_DECLINED))
    await api.requires_confirmation()
    await api.create(**manual_capture(payment_method=card(CARD_DECLINED)))
    try:
        await _balance(accounts_stub, metadata, PENDING)
        raise AssertionError("no posting should have opened the pending balance")
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND
    await assert_ledger_consistent(db, api.merchant_id)


async def test_payments_authorized_before_the_ledger_still_capture_and_void(
    api: Api, accounts_stub: Stub, metadata: Metadata, db: asyncpg.Pool
) -> None:
    """Payments in flight across the upgrade to migration 0009 have no hold to resolve."""
    to_capture = await api.authorized()
    to_void = await api.authorized()
    # As if both were authorized before the ledger existed: no holds at all.
    await db.execute("DELETE FROM ledger_entries WHERE merchant_id = $1", api.merchant_id)
    await db.execute("DELETE FROM ledger_transactions WHERE merchant_id = $1", api.merchant_id)
    await db.execute(
        "UPDATE ledger_accounts SET credits_pending = 0, debits_pending = 0 WHERE merchant_id = $1",
        api.merchant_id,
    )
    await api.capture(to_capture.id)
    await api.cancel(to_void.id)
    balance = await _balance(accounts_stub, metadata, PENDING)
    assert (balance.posted, balance.pending_credits) == (usd(10), usd(0))
    await assert_ledger_consistent(db, api.merchant_id)
