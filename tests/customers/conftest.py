"""Fixtures of the customer tests: CustomerService as the test's merchant and as another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from core.app import Services
from paycore.v1 import card_vault_service_pb2_grpc, customer_service_pb2_grpc
from paycore.v1 import customer_service_pb2 as cs
from tests.support.api import VaultApi
from tests.support.auth import Metadata, merchant_metadata
from tests.support.requests import build, new_merchant_id


@dataclass(frozen=True)
class CustomerApi:
    """CustomerService as one merchant sees it; every write with a fresh request_id."""

    stub: customer_service_pb2_grpc.CustomerServiceAsyncStub
    merchant_id: str
    metadata: Metadata

    async def call(self, rpc: str, request: Any) -> Any:
        """Any CustomerService RPC by name, as this merchant; the whole response."""
        return await getattr(self.stub, rpc)(request, metadata=self.metadata)

    async def create(self, **fields: Any) -> cs.Customer:
        """CreateCustomer with ``fields``."""
        response = await self.call("CreateCustomer", build(cs.CreateCustomerRequest, **fields))
        return response.customer

    async def get(self, customer_id: str) -> cs.Customer:
        """GetCustomer."""
        request = cs.GetCustomerRequest(customer_id=customer_id)
        return (await self.call("GetCustomer", request)).customer

    async def update(self, customer_id: str, **fields: Any) -> cs.Customer:
        """UpdateCustomer with ``fields`` (``update_mask`` among them, if any)."""
        request = build(cs.UpdateCustomerRequest, customer_id=customer_id, **fields)
        return (await self.call("UpdateCustomer", request)).customer

    async def delete(self, customer_id: str) -> None:
        """DeleteCustomer."""
        await self.call("DeleteCustomer", build(cs.DeleteCustomerRequest, customer_id=customer_id))

    async def list(self, **fields: Any) -> cs.ListCustomersResponse:
        """ListCustomers."""
        result: cs.ListCustomersResponse = await self.call(
            "ListCustomers", cs.ListCustomersRequest(**fields)
        )
        return result


@pytest.fixture(scope="session")
def customer_stub(
    grpc_channel: grpc.aio.Channel,
) -> customer_service_pb2_grpc.CustomerServiceAsyncStub:
    """CustomerService stub over the test channel."""
    return customer_service_pb2_grpc.CustomerServiceStub(grpc_channel)


@pytest.fixture
def customers(
    customer_stub: customer_service_pb2_grpc.CustomerServiceAsyncStub,
    merchant_id: str,
    metadata: Metadata,
) -> CustomerApi:
    """The test's merchant's customers."""
    return CustomerApi(customer_stub, merchant_id, metadata)


@pytest.fixture
async def other_customers(
    customer_stub: customer_service_pb2_grpc.CustomerServiceAsyncStub, services: Services
) -> CustomerApi:
    """A second merchant's customers, for isolation tests."""
    other = new_merchant_id()
    return CustomerApi(customer_stub, other, await merchant_metadata(services.pool, other))


@pytest.fixture
def vault(grpc_channel: grpc.aio.Channel, merchant_id: str, metadata: Metadata) -> VaultApi:
    """The test's merchant's card vault (for default payment methods)."""
    stub = card_vault_service_pb2_grpc.CardVaultServiceStub(grpc_channel)
    return VaultApi(stub, merchant_id, metadata)
