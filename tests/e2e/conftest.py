"""Fixtures of the end-to-end suite: raw PaymentService methods (``api``, ``other_api`` and
``db`` are every suite's, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest


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
