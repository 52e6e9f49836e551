"""TokenizeCard, GetCardToken and payments by token, over gRPC."""

from __future__ import annotations

import asyncpg
import pytest

from paycore.v1 import card_vault_service_pb2 as vault_svc
from paycore.v1 import payment_pb2 as pb
from tests.support.api import Api, VaultApi
from tests.support.expect import INVALID_ARGUMENT, NOT_FOUND, expect_error, expect_invalid
from tests.support.requests import (
    CARD_DECLINED,
    EXP_YEAR,
    by_token,
    card_data,
    distinctive_pan,
    new_request_id,
    request_for,
    usd,
)

S = pb.Payment


async def test_tokenize_returns_the_masked_card_and_get_shows_the_same(vault: VaultApi) -> None:
    pan = distinctive_pan()

    token = await vault.tokenize(pan)

    assert token.id.startswith("tok_") and len(token.id) == 30
    card = token.card
    assert (card.brand, card.bin, card.last4) == ("visa", pan[:6], pan[-4:])
    assert (card.exp_month, card.exp_year) == (12, EXP_YEAR)
    assert len(card.fingerprint) == 32
    assert token.HasField("create_time")
    assert await vault.get(token.id) == token


async def test_payment_by_token_is_captured_with_the_tokens_masked_card(
    vault: VaultApi, api: Api
) -> None:
    pan = distinctive_pan()
    token = await vault.tokenize(pan)

    payment = await api.create(payment_method=by_token(token.id))

    assert payment.state == S.STATE_CAPTURED
    assert payment.payment_method.card == token.card
    assert (await api.get(payment.id)).payment_method.card == token.card


async def test_the_channel_sees_the_stored_card_number(vault: VaultApi, api: Api) -> None:
    token = await vault.tokenize(CARD_DECLINED)

    payment = await api.create(payment_method=by_token(token.id))

    assert payment.state == S.STATE_DECLINED
    assert payment.failure.code == "card_declined"


async def test_confirm_payment_takes_a_token(vault: VaultApi, api: Api) -> None:
    token = await vault.tokenize(distinctive_pan())
    waiting = await api.requires_confirmation()

    request = request_for("ConfirmPayment", waiting.id, payment_method=by_token(token.id))
    confirmed = (await api.call("ConfirmPayment", request)).payment

    assert confirmed.state == S.STATE_CAPTURED
    assert confirmed.payment_method.card == token.card


async def test_tokenize_is_idempotent_by_request_id(vault: VaultApi, db: asyncpg.Pool) -> None:
    request = vault_svc.TokenizeCardRequest(
        request_id=new_request_id(), card=card_data(distinctive_pan())
    )

    first = await vault.tokenize_request(request)
    again = await vault.tokenize_request(request)

    assert again == first
    rows = await db.fetchval(
        "SELECT count(*) FROM card_tokens WHERE merchant_id = $1", vault.merchant_id
    )
    assert rows == 1


async def test_a_request_id_reused_for_another_card_is_refused(vault: VaultApi) -> None:
    request = vault_svc.TokenizeCardRequest(
        request_id=new_request_id(), card=card_data(distinctive_pan())
    )
    await vault.tokenize_request(request)
    other = vault_svc.TokenizeCardRequest(
        request_id=request.request_id, card=card_data(distinctive_pan())
    )

    await expect_error(vault.tokenize_request(other), INVALID_ARGUMENT, "IDEMPOTENCY_KEY_REUSED")


async def test_another_merchant_can_neither_read_nor_pay_with_the_token(
    vault: VaultApi, other_vault: VaultApi, other_api: Api
) -> None:
    token = await vault.tokenize(distinctive_pan())

    await expect_error(other_vault.get(token.id), NOT_FOUND, "CARD_TOKEN_NOT_FOUND")
    await expect_error(
        other_api.create(payment_method=by_token(token.id)), NOT_FOUND, "CARD_TOKEN_NOT_FOUND"
    )
    waiting = await other_api.requires_confirmation()
    confirm = request_for("ConfirmPayment", waiting.id, payment_method=by_token(token.id))
    await expect_error(other_api.call("ConfirmPayment", confirm), NOT_FOUND, "CARD_TOKEN_NOT_FOUND")
    assert (await other_api.get(waiting.id)).state == S.STATE_REQUIRES_CONFIRMATION


async def test_an_unknown_token_is_not_found(vault: VaultApi, api: Api) -> None:
    unknown = "tok_01JD0Z8W7X6V5T4S3R2Q1P0N9M"

    await expect_error(vault.get(unknown), NOT_FOUND, "CARD_TOKEN_NOT_FOUND")
    await expect_error(
        api.create(payment_method=by_token(unknown)), NOT_FOUND, "CARD_TOKEN_NOT_FOUND"
    )


@pytest.mark.parametrize(
    ("card", "fields"),
    [
        (card_data("4242424242424241"), ["card.number"]),
        (card_data("42424242"), ["card.number"]),
        (card_data("4242424242424242", exp_month=13, cvc="12"), ["card.exp_month", "card.cvc"]),
        (card_data("4242424242424242", exp_year=2001), ["card.exp_year"]),
        (None, ["card"]),
    ],
)
async def test_bad_cards_are_invalid_with_field_violations(
    vault: VaultApi, card: pb.CardData | None, fields: list[str]
) -> None:
    request = vault_svc.TokenizeCardRequest(request_id=new_request_id(), card=card)

    await expect_invalid(vault.tokenize_request(request), *fields)


async def test_tokenize_needs_a_request_id(vault: VaultApi) -> None:
    request = vault_svc.TokenizeCardRequest(card=card_data(distinctive_pan()))

    await expect_invalid(vault.tokenize_request(request), "request_id")


@pytest.mark.parametrize("token_id", ["", "tok_x", "pay_01JD0Z8W7X6V5T4S3R2Q1P0N9M"])
async def test_malformed_token_ids_are_invalid(vault: VaultApi, api: Api, token_id: str) -> None:
    await expect_invalid(vault.get(token_id), "token_id")
    await expect_invalid(api.create(payment_method=by_token(token_id)), "payment_method.card_token")


async def test_raw_cards_are_still_accepted_by_create_payment(api: Api) -> None:
    payment = await api.create(amount=usd(3))

    assert payment.state == S.STATE_CAPTURED
