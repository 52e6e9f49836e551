"""Fixtures of the card vault tests: the vault API of the test's merchant and of another."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from core.app import Services
from paycore.v1 import card_vault_service_pb2_grpc, customer_service_pb2_grpc
from tests.customers.conftest import CustomerApi
from tests.support.api import Api, VaultApi
from tests.support.auth import Metadata, merchant_metadata
from tests.support.requests import new_merchant_id


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
) -> VaultApi:
    """The test's merchant's vault."""
    return VaultApi(vault_stub, merchant_id, metadata)


@pytest.fixture
async def other_vault(
    vault_stub: card_vault_service_pb2_grpc.CardVaultServiceAsyncStub, services: Services
) -> VaultApi:
    """A second merchant's vault, for isolation tests."""
    other = new_merchant_id()
    return VaultApi(vault_stub, other, await merchant_metadata(services.pool, other))


@pytest.fixture
def other_api(stub: Any, other_vault: VaultApi) -> Api:
    """The second merchant's PaymentService."""
    return Api(stub, other_vault.merchant_id, other_vault.metadata)


@pytest.fixture
def customers(grpc_channel: grpc.aio.Channel, merchant_id: str, metadata: Metadata) -> CustomerApi:
    """The test's merchant's customers (whom its cards may belong to)."""
    return CustomerApi(
        customer_service_pb2_grpc.CustomerServiceStub(grpc_channel), merchant_id, metadata
    )
