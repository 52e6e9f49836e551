"""Mandates and card tokens that belong to a customer (TokenizeCard's customer_id, issue 20)."""

from __future__ import annotations

import asyncpg

from tests.customers.conftest import CustomerApi
from tests.mandates.conftest import MandateApi, Saved, count
from tests.support.api import VaultApi
from tests.support.expect import FAILED_PRECONDITION, expect_error

MISMATCH = "CARD_TOKEN_CUSTOMER_MISMATCH"


async def test_setup_with_another_customers_token_is_refused_and_changes_nothing(
    mandates: MandateApi,
    saved: Saved,
    customers: CustomerApi,
    vault: VaultApi,
    db: asyncpg.Pool,
) -> None:
    owner = await customers.create(email="owner@example.com")
    theirs = await vault.tokenize("5555555555554444", customer_id=owner.id)
    request = mandates.setup_request(saved.customer_id, theirs.id)

    await expect_error(mandates.call("SetupPaymentMethod", request), FAILED_PRECONDITION, MISMATCH)
    # The refusal is the setup's outcome: a retry replays it, verifying nothing.
    await expect_error(mandates.call("SetupPaymentMethod", request), FAILED_PRECONDITION, MISMATCH)

    assert await count(db, "payments", mandates.merchant_id) == 0
    assert await count(db, "mandates", mandates.merchant_id) == 0


async def test_setup_with_the_customers_own_saved_token_is_made(
    mandates: MandateApi, saved: Saved, vault: VaultApi
) -> None:
    own = await vault.tokenize("5555555555554444", customer_id=saved.customer_id)

    mandate = await mandates.setup(saved.customer_id, own.id)

    assert (mandate.customer_id, mandate.card_token) == (saved.customer_id, own.id)
