"""Payments by a card token that belongs to a customer pay for that customer only (issue 20)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from paycore.v1 import payment_pb2 as pb
from tests.customers.conftest import CustomerApi
from tests.support.api import Api, VaultApi
from tests.support.expect import FAILED_PRECONDITION, NOT_FOUND, expect_error
from tests.support.requests import (
    by_token,
    create_request,
    distinctive_pan,
    request_for,
)

S = pb.Payment
MISMATCH = "CARD_TOKEN_CUSTOMER_MISMATCH"


async def _rows(db: asyncpg.Pool, merchant_id: str) -> dict[str, int]:
    """What a payment leaves behind: its row, its ledger postings, its events."""
    counts = {}
    for table in ("payments", "channel_attempts", "ledger_transactions", "events"):
        counts[table] = await db.fetchval(
            f"SELECT count(*) FROM {table} WHERE merchant_id = $1",
            merchant_id,
        )
    return counts


@pytest.fixture
async def owner(customers: CustomerApi) -> str:
    """A customer of the test's merchant, whose card is saved."""
    return (await customers.create(email="owner@example.com")).id


# Automatic: the token's row is read before the transaction; manual: inside it.
@pytest.mark.parametrize(
    "confirmation",
    [{}, {"confirmation_method": pb.CONFIRMATION_METHOD_MANUAL}],
    ids=["automatic", "manual"],
)
async def test_a_payment_for_another_customer_with_a_customers_token_is_refused(
    api: Api,
    customers: CustomerApi,
    vault: VaultApi,
    db: asyncpg.Pool,
    owner: str,
    *,
    confirmation: dict[str, Any],
) -> None:
    other = (await customers.create(email="other@example.com")).id
    token = await vault.tokenize(distinctive_pan(), customer_id=owner)
    before = await _rows(db, api.merchant_id)

    for customer_id in (other, "someone-else"):
        request = create_request(
            payment_method=by_token(token.id), customer_id=customer_id, **confirmation
        )
        await expect_error(api.call("CreatePayment", request), FAILED_PRECONDITION, MISMATCH)
        # The refusal is the request's outcome: a retry replays it.
        await expect_error(api.call("CreatePayment", request), FAILED_PRECONDITION, MISMATCH)

    assert await _rows(db, api.merchant_id) == before


async def test_a_payment_without_customer_takes_the_tokens_customer(
    api: Api, vault: VaultApi, owner: str
) -> None:
    token = await vault.tokenize(distinctive_pan(), customer_id=owner)

    payment = await api.create(payment_method=by_token(token.id))

    assert payment.state == S.STATE_CAPTURED
    assert payment.customer_id == owner
    assert [p.id for p in (await api.list(customer_id=owner)).payments] == [payment.id]


async def test_a_payment_for_the_tokens_own_customer_is_made(
    api: Api, vault: VaultApi, owner: str
) -> None:
    token = await vault.tokenize(distinctive_pan(), customer_id=owner)

    payment = await api.create(payment_method=by_token(token.id), customer_id=owner)

    assert (payment.state, payment.customer_id) == (S.STATE_CAPTURED, owner)


async def test_a_token_of_no_customer_pays_for_any(api: Api, vault: VaultApi, owner: str) -> None:
    token = await vault.tokenize(distinctive_pan())

    for customer_id in (owner, "alice-42", ""):
        payment = await api.create(payment_method=by_token(token.id), customer_id=customer_id)
        assert (payment.state, payment.customer_id) == (S.STATE_CAPTURED, customer_id)


async def test_a_free_text_owner_binds_its_token_as_a_customer_does(
    api: Api, vault: VaultApi
) -> None:
    token = await vault.tokenize(distinctive_pan(), customer_id="alice-42")

    taken = await api.create(payment_method=by_token(token.id))
    assert taken.customer_id == "alice-42"
    await expect_error(
        api.create(payment_method=by_token(token.id), customer_id="bob-7"),
        FAILED_PRECONDITION,
        MISMATCH,
    )


async def test_confirming_another_customers_payment_with_the_token_is_refused(
    api: Api, customers: CustomerApi, vault: VaultApi, db: asyncpg.Pool, owner: str
) -> None:
    other = (await customers.create(email="other@example.com")).id
    token = await vault.tokenize(distinctive_pan(), customer_id=owner)
    waiting = await api.requires_confirmation(customer_id=other)
    before = await _rows(db, api.merchant_id)

    confirm = request_for("ConfirmPayment", waiting.id, payment_method=by_token(token.id))
    await expect_error(api.call("ConfirmPayment", confirm), FAILED_PRECONDITION, MISMATCH)

    assert await api.get(waiting.id) == waiting
    assert await _rows(db, api.merchant_id) == before


async def test_confirming_a_payment_without_customer_keeps_it_without(
    api: Api, vault: VaultApi, owner: str
) -> None:
    # A payment's customer is fixed at creation; the token pays as any card would.
    token = await vault.tokenize(distinctive_pan(), customer_id=owner)
    waiting = await api.requires_confirmation()

    confirm = request_for("ConfirmPayment", waiting.id, payment_method=by_token(token.id))
    confirmed = (await api.call("ConfirmPayment", confirm)).payment

    assert (confirmed.state, confirmed.customer_id) == (S.STATE_CAPTURED, "")


async def test_a_token_of_a_deleted_customer_pays_no_more(
    api: Api, customers: CustomerApi, vault: VaultApi, db: asyncpg.Pool, owner: str
) -> None:
    token = await vault.tokenize(distinctive_pan(), customer_id=owner)
    await customers.delete(owner)

    await expect_error(
        api.create(payment_method=by_token(token.id)), NOT_FOUND, "CUSTOMER_NOT_FOUND"
    )
    await expect_error(
        api.create(payment_method=by_token(token.id), customer_id="alice-42"),
        FAILED_PRECONDITION,
        MISMATCH,
    )
    assert (await _rows(db, api.merchant_id))["payments"] == 0


async def test_a_customers_default_card_is_its_own_or_no_ones(
    customers: CustomerApi, vault: VaultApi, owner: str
) -> None:
    # Named as another customer's default, the owner's card would be charged for
    # that customer at the first renewal: refused when it is named instead.
    theirs = await vault.tokenize(distinctive_pan(), customer_id=owner)
    other = await customers.create(email="other@example.com")

    await expect_error(
        customers.create(email="new@example.com", default_payment_method=theirs.id),
        FAILED_PRECONDITION,
        MISMATCH,
    )
    await expect_error(
        customers.update(other.id, default_payment_method=theirs.id), FAILED_PRECONDITION, MISMATCH
    )
    assert await customers.get(other.id) == other

    own = await customers.update(owner, default_payment_method=theirs.id)
    no_ones = await vault.tokenize(distinctive_pan())
    shared = await customers.update(other.id, default_payment_method=no_ones.id)
    assert (own.default_payment_method, shared.default_payment_method) == (theirs.id, no_ones.id)
