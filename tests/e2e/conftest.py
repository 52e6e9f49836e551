"""Fixtures of the end-to-end suite: raw PaymentService methods, the back office (admin and
merchant keys) of the refund review tests (``api``, ``other_api`` and
``db`` are every suite's, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from paycore.v1 import merchant_settings_service_pb2_grpc, payment_service_pb2_grpc
from tests.support.auth import Metadata

from .back_office import BackOffice


@pytest.fixture
def raw_rpc(
    grpc_channel: grpc.aio.Channel,
) -> Callable[[str], grpc.aio.UnaryUnaryMultiCallable]:
    """A PaymentService method by name, taking and answering raw bytes."""

    def method(name: str) -> grpc.aio.UnaryUnaryMultiCallable:
        return grpc_channel.unary_unary(
            f"/paycore.v1.PaymentService/{name}",
            request_serializer=None,
            response_deserializer=None,
        )

    return method


@pytest.fixture
def settings_stub(
    grpc_channel: grpc.aio.Channel,
) -> merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub:
    """MerchantSettingsService stub over the test channel."""
    return merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub(grpc_channel)


@pytest.fixture
def admin(
    stub: payment_service_pb2_grpc.PaymentServiceStub,
    settings_stub: merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub,
    admin_metadata: Metadata,
) -> BackOffice:
    """The test merchant's back office, with its admin key."""
    return BackOffice(stub, settings_stub, admin_metadata)


@pytest.fixture
def merchant_office(
    stub: payment_service_pb2_grpc.PaymentServiceStub,
    settings_stub: merchant_settings_service_pb2_grpc.MerchantSettingsServiceStub,
    metadata: Metadata,
) -> BackOffice:
    """The same calls with the merchant's own (merchant-role) key."""
    return BackOffice(stub, settings_stub, metadata)
