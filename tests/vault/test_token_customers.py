"""TokenizeCard's customer_id: checked as a payment's is, kept with the token (issue 20)."""

from __future__ import annotations

import asyncpg

from paycore.v1 import card_vault_service_pb2 as vault_svc
from tests.customers.conftest import CustomerApi
from tests.support.api import VaultApi
from tests.support.expect import INVALID_ARGUMENT, NOT_FOUND, expect_error, expect_invalid
from tests.support.requests import card_data, distinctive_pan, new_request_id

UNKNOWN = "cus_01JD0Z8W7X6V5T4S3R2Q1P0N9M"


async def _tokens(db: asyncpg.Pool, merchant_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM card_tokens WHERE merchant_id = $1", merchant_id
    )
    return count


async def test_a_card_tokenized_for_a_customer_shows_its_customer(
    vault: VaultApi, customers: CustomerApi
) -> None:
    customer = await customers.create(email="saver@example.com")

    token = await vault.tokenize(distinctive_pan(), customer_id=customer.id)

    assert token.customer_id == customer.id
    assert (await vault.get(token.id)).customer_id == customer.id


async def test_a_token_without_customer_belongs_to_no_one(vault: VaultApi) -> None:
    token = await vault.tokenize(distinctive_pan())

    assert token.customer_id == ""
    assert (await vault.get(token.id)).customer_id == ""


async def test_free_text_stays_the_merchants_reference(vault: VaultApi) -> None:
    for reference in ("alice-42", "cus_NffrFeUfNV2Hib"):
        token = await vault.tokenize(distinctive_pan(), customer_id=reference)
        assert (await vault.get(token.id)).customer_id == reference


async def test_an_unknown_or_deleted_customer_is_refused_and_nothing_is_stored(
    vault: VaultApi, customers: CustomerApi, db: asyncpg.Pool
) -> None:
    deleted = await customers.create(email="gone@example.com")
    await customers.delete(deleted.id)

    for customer_id in (UNKNOWN, deleted.id):
        await expect_error(
            vault.tokenize(distinctive_pan(), customer_id=customer_id),
            NOT_FOUND,
            "CUSTOMER_NOT_FOUND",
        )

    assert await _tokens(db, vault.merchant_id) == 0


async def test_another_merchants_customer_is_not_found(
    vault: VaultApi, other_vault: VaultApi, customers: CustomerApi, db: asyncpg.Pool
) -> None:
    customer = await customers.create(email="mine@example.com")

    await expect_error(
        other_vault.tokenize(distinctive_pan(), customer_id=customer.id),
        NOT_FOUND,
        "CUSTOMER_NOT_FOUND",
    )
    assert await _tokens(db, other_vault.merchant_id) == 0


async def test_a_request_id_reused_for_another_customer_is_refused(
    vault: VaultApi, customers: CustomerApi, db: asyncpg.Pool
) -> None:
    first = await customers.create(email="first@example.com")
    second = await customers.create(email="second@example.com")
    request = vault_svc.TokenizeCardRequest(
        request_id=new_request_id(), card=card_data(distinctive_pan()), customer_id=first.id
    )
    token = (await vault.tokenize_request(request)).token

    for customer_id in (second.id, ""):
        reused = vault_svc.TokenizeCardRequest()
        reused.CopyFrom(request)
        reused.customer_id = customer_id
        await expect_error(
            vault.tokenize_request(reused), INVALID_ARGUMENT, "IDEMPOTENCY_KEY_REUSED"
        )

    assert (await vault.tokenize_request(request)).token == token
    assert await _tokens(db, vault.merchant_id) == 1


async def test_a_customer_id_over_255_characters_is_invalid(vault: VaultApi) -> None:
    request = vault_svc.TokenizeCardRequest(
        request_id=new_request_id(), card=card_data(distinctive_pan()), customer_id="c" * 256
    )

    await expect_invalid(vault.tokenize_request(request), "customer_id")
