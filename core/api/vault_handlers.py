"""The CardVaultService RPCs: the one place a full card number enters paycore to be kept.

Runs through the same pipeline as PaymentService (``core.api.pipeline``):
caller, parsing, one error mapping. Validation is in ``core.api.requests.vault``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.requests import vault as validation
from core.api.requests.fingerprint import request_identity
from core.api.status import encode_error
from core.service.card_vault import CardVault
from core.service.execution import Encoder, Reply
from core.telemetry import Telemetry
from core.vault.records import CardToken
from core.wire import convert
from paycore.v1 import card_vault_service_pb2 as vault_svc

SERVICE_NAME = "paycore.v1.CardVaultService"


def card_token_to_proto(token: CardToken) -> vault_svc.CardToken:
    """A token as its API message: the masked card only."""
    return vault_svc.CardToken(
        id=token.id,
        card=convert.card_to_proto(token.card),
        create_time=convert.timestamp(token.created_at),
        customer_id=token.customer_id,
    )


_TOKENIZE: Encoder[CardToken] = Encoder(
    success=lambda token: vault_svc.TokenizeCardResponse(
        token=card_token_to_proto(token)
    ).SerializeToString(deterministic=True),
    failure=encode_error,
)


class CardVaultHandlers:
    """One method per CardVaultService RPC: validate, call the vault, convert the answer."""

    def __init__(
        self, vault: CardVault, secret: bytes, today: Callable[[], date] | None = None
    ) -> None:
        self._vault = vault
        self._secret = secret  # keys request fingerprints (requests carry card numbers)
        self._today = today or (lambda: datetime.now(UTC).date())

    async def tokenize_card(self, caller: Caller, request: vault_svc.TokenizeCardRequest) -> Reply:
        command = validation.tokenize_card(caller.merchant_id, request, self._today())
        identity = request_identity(request, self._secret)
        return await self._vault.tokenize(command, identity, _TOKENIZE)

    async def get_card_token(
        self, caller: Caller, request: vault_svc.GetCardTokenRequest
    ) -> vault_svc.GetCardTokenResponse:
        token_id = validation.get_card_token_id(request)
        token = await self._vault.get_token(caller.merchant_id, token_id)
        return vault_svc.GetCardTokenResponse(token=card_token_to_proto(token))


def generic_handler(
    handlers: CardVaultHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The CardVaultService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "TokenizeCard": (vault_svc.TokenizeCardRequest, handlers.tokenize_card),
        "GetCardToken": (vault_svc.GetCardTokenRequest, handlers.get_card_token),
    }
    return service_handler(
        vault_svc.DESCRIPTOR.services_by_name["CardVaultService"], table, identity, telemetry
    )
