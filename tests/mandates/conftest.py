"""Fixtures of the mandate tests: a customer with a saved card, MandateService as its merchant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import timestamp_pb2

from core.app import Services
from core.config import RiskSettings, Settings
from paycore.v1 import (
    card_vault_service_pb2_grpc,
    customer_service_pb2_grpc,
    mandate_service_pb2_grpc,
    payment_service_pb2_grpc,
)
from paycore.v1 import mandate_service_pb2 as ms
from router.channels.simulated import LedgerEntry, SimulatedAcquirer
from tests.customers.conftest import CustomerApi
from tests.support.api import Api, VaultApi
from tests.support.auth import Metadata, merchant_metadata
from tests.support.requests import build, new_merchant_id, usd
from tests.support.serving import Serving

Scope = ms.MandateScope


def scope(**fields: Any) -> ms.MandateScope:
    """A multi-use, unscheduled scope of up to 50.00 USD; fields override."""
    values: dict[str, Any] = {"usage": Scope.USAGE_MULTI_USE, "max_amount": usd(50)}
    values.update(fields)
    return ms.MandateScope(**values)


def at(when: datetime) -> timestamp_pb2.Timestamp:
    """A Timestamp of ``when``."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


@dataclass(frozen=True)
class MandateApi:
    """MandateService as one merchant sees it; every write with a fresh request_id."""

    stub: mandate_service_pb2_grpc.MandateServiceAsyncStub
    merchant_id: str
    metadata: Metadata

    async def call(self, rpc: str, request: Any) -> Any:
        """Any MandateService RPC by name, as this merchant; the whole response."""
        return await getattr(self.stub, rpc)(request, metadata=self.metadata)

    def setup_request(
        self, customer_id: str, card_token: str, **fields: Any
    ) -> ms.SetupPaymentMethodRequest:
        """A SetupPaymentMethodRequest (the default ``scope()`` unless given)."""
        values: dict[str, Any] = {"scope": scope()}
        values.update(fields)
        return build(
            ms.SetupPaymentMethodRequest,
            customer_id=customer_id,
            card_token=card_token,
            **values,
        )

    async def setup(self, customer_id: str, card_token: str, **fields: Any) -> ms.Mandate:
        """SetupPaymentMethod; the new mandate."""
        request = self.setup_request(customer_id, card_token, **fields)
        return (await self.call("SetupPaymentMethod", request)).mandate

    async def revoke(self, mandate_id: str) -> ms.Mandate:
        """RevokeMandate."""
        request = build(ms.RevokeMandateRequest, mandate_id=mandate_id)
        return (await self.call("RevokeMandate", request)).mandate

    async def methods(self, customer_id: str, **fields: Any) -> ms.ListPaymentMethodsResponse:
        """ListPaymentMethods."""
        request = ms.ListPaymentMethodsRequest(customer_id=customer_id, **fields)
        result: ms.ListPaymentMethodsResponse = await self.call("ListPaymentMethods", request)
        return result


@dataclass(frozen=True)
class Saved:
    """A customer of the test's merchant and a card token of theirs."""

    customer_id: str
    card_token: str


@pytest.fixture(scope="session")
def mandate_stub(
    grpc_channel: grpc.aio.Channel,
) -> mandate_service_pb2_grpc.MandateServiceAsyncStub:
    """MandateService stub over the test channel."""
    return mandate_service_pb2_grpc.MandateServiceStub(grpc_channel)


@pytest.fixture
def mandates(
    mandate_stub: mandate_service_pb2_grpc.MandateServiceAsyncStub,
    merchant_id: str,
    metadata: Metadata,
) -> MandateApi:
    """The test's merchant's mandates."""
    return MandateApi(mandate_stub, merchant_id, metadata)


@pytest.fixture
def customers(grpc_channel: grpc.aio.Channel, merchant_id: str, metadata: Metadata) -> CustomerApi:
    """The test's merchant's customers."""
    return CustomerApi(
        customer_service_pb2_grpc.CustomerServiceStub(grpc_channel), merchant_id, metadata
    )


@pytest.fixture
def vault(grpc_channel: grpc.aio.Channel, merchant_id: str, metadata: Metadata) -> VaultApi:
    """The test's merchant's card vault."""
    stub = card_vault_service_pb2_grpc.CardVaultServiceStub(grpc_channel)
    return VaultApi(stub, merchant_id, metadata)


@pytest.fixture
async def saved(customers: CustomerApi, vault: VaultApi) -> Saved:
    """A customer with a Visa card token."""
    customer = await customers.create(email="member@example.com")
    token = await vault.tokenize("4242424242424242")
    return Saved(customer.id, token.id)


@pytest.fixture
async def other_mandates(
    mandate_stub: mandate_service_pb2_grpc.MandateServiceAsyncStub, services: Services
) -> MandateApi:
    """A second merchant's mandates, for isolation tests."""
    other = new_merchant_id()
    return MandateApi(mandate_stub, other, await merchant_metadata(services.pool, other))


def channel_calls(services: Services, payment_id: str) -> list[LedgerEntry]:
    """What the (simulated) channels did for ``payment_id``, in order."""
    calls: list[LedgerEntry] = []
    for name in services.router.channel_names:
        channel = services.router.channel(name)
        if isinstance(channel, SimulatedAcquirer):
            calls.extend(e for e in channel.ledger.values() if e.payment_id == payment_id)
    return calls


async def count(db: asyncpg.Pool, table: str, merchant_id: str) -> int:
    """Rows of ``table`` (payments, mandates, mandate_charges) of the merchant."""
    result: int = await db.fetchval(
        f"SELECT count(*) FROM {table} WHERE merchant_id = $1",
        merchant_id,
    )
    return result


def with_risk_rules(settings: Settings, tmp_path: Path, rules: str) -> Settings:
    """``settings`` with the risk rules ``rules`` (TOML), for a server of a test's own."""
    path = tmp_path / "rules.toml"
    path.write_text(rules)
    return settings.replace(risk=RiskSettings(rules_file=str(path), rules_poll_interval_s=0))


@dataclass(frozen=True)
class ServedMerchant:
    """A new merchant of a server of a test's own: a customer of its, and its APIs."""

    merchant_id: str
    metadata: Metadata
    customer_id: str
    vault: VaultApi
    mandates: MandateApi
    api: Api


async def served_merchant(paycore: Serving) -> ServedMerchant:
    """A new merchant of ``paycore`` with one customer (no card yet)."""
    merchant = new_merchant_id()
    metadata = await merchant_metadata(paycore.services.pool, merchant)
    customers = CustomerApi(
        paycore.stub(customer_service_pb2_grpc.CustomerServiceStub), merchant, metadata
    )
    customer = await customers.create(email="member@example.com")
    return ServedMerchant(
        merchant,
        metadata,
        customer.id,
        VaultApi(
            paycore.stub(card_vault_service_pb2_grpc.CardVaultServiceStub), merchant, metadata
        ),
        MandateApi(paycore.stub(mandate_service_pb2_grpc.MandateServiceStub), merchant, metadata),
        Api(paycore.stub(payment_service_pb2_grpc.PaymentServiceStub), merchant, metadata),
    )
