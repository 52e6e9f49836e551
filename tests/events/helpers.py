"""What only the notification tests share: ``pay`` (receivers and polling: tests/support)."""

from __future__ import annotations

from typing import Any

from paycore.v1 import payment_service_pb2 as svc
from tests.support.auth import Metadata
from tests.support.requests import create_request


async def pay(stub: Any, metadata: Metadata, **fields: Any) -> svc.CreatePaymentResponse:
    """CreatePayment (10.00 USD, Visa, captured at once unless ``fields`` say otherwise)."""
    request = create_request(**fields)
    return await stub.CreatePayment(request, metadata=metadata)
