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


async def test_payment_methods_list_the_cards_saved_with_the_customer_too(
    mandates: MandateApi, saved: Saved, customers: CustomerApi, vault: VaultApi
) -> None:
    other = await customers.create(email="other@example.com")
    kept = await vault.tokenize("5555555555554444", customer_id=saved.customer_id)
    kept_and_set_up = await vault.tokenize("4000056655665556", customer_id=saved.customer_id)
    theirs = await vault.tokenize("4242424242424242", customer_id=other.id)
    set_up = await mandates.setup(saved.customer_id, saved.card_token)
    again = await mandates.setup(saved.customer_id, kept_and_set_up.id)

    first = await mandates.methods(saved.customer_id, page_size=2)
    rest = await mandates.methods(saved.customer_id, page_token=first.next_page_token)

    assert first.next_page_token and not rest.next_page_token
    methods = [*first.payment_methods, *rest.payment_methods]
    assert [m.card_token for m in methods] == sorted(
        (saved.card_token, kept.id, kept_and_set_up.id)
    )
    by_token = {m.card_token: [x.id for x in m.mandates] for m in methods}
    assert by_token == {
        saved.card_token: [set_up.id],
        kept.id: [],
        kept_and_set_up.id: [again.id],
    }
    assert next(m for m in methods if m.card_token == kept.id).card == kept.card
    assert [m.card_token for m in (await mandates.methods(other.id)).payment_methods] == [theirs.id]
