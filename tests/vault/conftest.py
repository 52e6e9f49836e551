"""Fixtures of the card vault tests: the vault API as one merchant sees it, distinctive PANs."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from core.app import Services
from core.domain.cards import luhn_valid
from paycore.v1 import card_vault_service_pb2 as vault_svc
from paycore.v1 import card_vault_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from tests.e2e.conftest import api, db  # noqa: F401  # shared fixtures
from tests.support.api import Api
from tests.support.auth import Metadata, merchant_metadata
from tests.support.requests import card_data, new_request_id


def luhn_complete(prefix: str) -> str:
    """``prefix`` followed by its Luhn check digit."""
    total = 0
    for position, char in enumerate(reversed(prefix)):
        digit = int(char)
        if position % 2 == 0:  # doubled: these become odd positions once the check digit follows
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return prefix + str((10 - total % 10) % 10)


def distinctive_pan() -> str:
    """A Luhn-valid 16-digit Visa number no other test uses (the sandbox authorizes it)."""
    number = luhn_complete("4" + "".join(secrets.choice("0123456789") for _ in range(14)))
    assert luhn_valid(number)
    return number


def by_token(token_id: str) -> pb.PaymentMethodData:
    """A payment method naming a stored card."""
    return pb.PaymentMethodData(card_token=token_id)


@dataclass(frozen=True)
class Vault:
    """The CardVaultService as one merchant sees it."""

    stub: card_vault_service_pb2_grpc.CardVaultServiceAsyncStub
    merchant_id: str
    metadata: tuple[tuple[str, str], ...]
    """Call metadata with an API key of this merchant."""

    async def tokenize_request(
        self, request: vault_svc.TokenizeCardRequest
    ) -> vault_svc.TokenizeCardResponse:
        """TokenizeCard with a request as given."""
        return await self.stub.TokenizeCard(request, metadata=self.metadata)

    async def tokenize(self, number: str, **fields: Any) -> vault_svc.CardToken:
        """TokenizeCard with a fresh request_id; the token."""
        request = vault_svc.TokenizeCardRequest(
            request_id=new_request_id(), card=card_data(number, **fields)
        )
        return (await self.tokenize_request(request)).token

    async def get(self, token_id: str) -> vault_svc.CardToken:
        """GetCardToken."""
        request = vault_svc.GetCardTokenRequest(token_id=token_id)
        return (await self.stub.GetCardToken(request, metadata=self.metadata)).token


@pytest.fixture(scope="session")
def vault_stub(
    grpc_channel: grpc.aio.Channel,
) -> card_vault_service_pb2_grpc.CardVaultServiceAsyncStub:
    """CardVaultService stub over the test channel."""
    return card_vault_service_pb2_grpc.CardVaultServiceStub(grpc_channel)


@pytest.fixture
def vault(
    vault_stub: card_vault_service_pb2_grpc.CardVaultServiceAsyncStub,
    merchant_id: str,
    metadata: Metadata,
) -> Vault:
    """The test's merchant's vault."""
    return Vault(vault_stub, merchant_id, metadata)


@pytest.fixture
async def other_vault(
    vault_stub: card_vault_service_pb2_grpc.CardVaultServiceAsyncStub, services: Services
) -> Vault:
    """A second merchant's vault, for isolation tests."""
    other = f"m_{uuid.uuid4().hex[:16]}"
    return Vault(vault_stub, other, await merchant_metadata(services.pool, other))


@pytest.fixture
def other_api(stub: Any, other_vault: Vault) -> Api:
    """The second merchant's PaymentService."""
    return Api(stub, other_vault.merchant_id, other_vault.metadata)
