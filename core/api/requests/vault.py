"""CardVaultService requests -> validated commands."""

from __future__ import annotations

import dataclasses
from datetime import date

from core.api.requests import fields
from core.api.requests.payment_methods import card
from core.domain.commands import TokenizeCard
from core.domain.errors import ViolationCollector
from paycore.v1 import card_vault_service_pb2 as vault_svc


def tokenize_card(
    merchant_id: str, request: vault_svc.TokenizeCardRequest, today: date
) -> TokenizeCard:
    """Validate a TokenizeCardRequest. The CVC is checked for shape, then dropped."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    card_input = None
    if not request.HasField("card"):
        v.add("card", "required")
    else:
        card_input = card(v, "card", request.card, today)
    fields.text(v, "customer_id", request.customer_id, fields.MAX_CUSTOMER_ID)
    v.raise_if_any()
    assert card_input is not None
    return TokenizeCard(merchant_id, dataclasses.replace(card_input, cvc=""), request.customer_id)


def get_card_token_id(request: vault_svc.GetCardTokenRequest) -> str:
    """Validate a GetCardTokenRequest; returns the token id."""
    v = ViolationCollector()
    fields.token_id(v, "token_id", request.token_id)
    v.raise_if_any()
    return request.token_id
