"""Services as one merchant sees them: ``Api`` (PaymentService: a call per RPC and payments
made ready in any state) and ``VaultApi`` (CardVaultService).

Each is built from a stub, a merchant id and call metadata with an API key of that
merchant (tests/support/auth.py).
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from paycore.v1 import card_vault_service_pb2 as vault_svc
from paycore.v1 import card_vault_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.requests import (
    CARD_DECLINED,
    PROCESSING_ERROR,
    VISA,
    S,
    build,
    card,
    card_data,
    create_request,
    manual_capture,
    manual_confirmation,
    new_request_id,
    usd,
)


@dataclass(frozen=True)
class Api:
    """The PaymentService as one merchant sees it."""

    stub: payment_service_pb2_grpc.PaymentServiceStub
    merchant_id: str
    metadata: tuple[tuple[str, str], ...]
    """Call metadata with an API key of this merchant (tests/support/auth.py)."""

    async def call(self, rpc: str, request: Message) -> Any:
        """Any RPC by name, as this merchant; returns the whole response."""
        method = getattr(self.stub, rpc)
        return await method(request, metadata=self.metadata)

    async def create(self, **fields: Any) -> pb.Payment:
        """CreatePayment with ``create_request(**fields)``."""
        response = await self.call("CreatePayment", create_request(**fields))
        return response.payment

    async def get(self, payment_id: str) -> pb.Payment:
        """GetPayment."""
        response = await self.call("GetPayment", svc.GetPaymentRequest(payment_id=payment_id))
        return response.payment

    async def list(self, **fields: Any) -> svc.ListPaymentsResponse:
        """One ListPayments page."""
        return await self.call("ListPayments", build(svc.ListPaymentsRequest, **fields))

    async def list_all(self, **filters: Any) -> builtins.list[pb.Payment]:
        """Every payment matching the filters, following page tokens."""
        payments: builtins.list[pb.Payment] = []
        token = ""
        while True:
            page = await self.list(page_size=100, page_token=token, **filters)
            payments.extend(page.payments)
            token = page.next_page_token
            if not token:
                return payments

    async def update(self, payment_id: str, **fields: Any) -> pb.Payment:
        """UpdatePayment."""
        request = build(svc.UpdatePaymentRequest, payment_id=payment_id, **fields)
        return (await self.call("UpdatePayment", request)).payment

    async def confirm(self, payment_id: str, number: str = VISA, **fields: Any) -> pb.Payment:
        """ConfirmPayment with a card."""
        request = build(
            svc.ConfirmPaymentRequest, payment_id=payment_id, payment_method=card(number), **fields
        )
        return (await self.call("ConfirmPayment", request)).payment

    async def capture(self, payment_id: str, amount: Any = None, **fields: Any) -> pb.Payment:
        """CapturePayment (all of it when ``amount`` is None)."""
        request = build(svc.CapturePaymentRequest, payment_id=payment_id, amount=amount, **fields)
        return (await self.call("CapturePayment", request)).payment

    async def cancel(self, payment_id: str, **fields: Any) -> pb.Payment:
        """CancelPayment."""
        request = build(svc.CancelPaymentRequest, payment_id=payment_id, **fields)
        return (await self.call("CancelPayment", request)).payment

    async def refund(
        self, payment_id: str, amount: Any = None, **fields: Any
    ) -> svc.RefundPaymentResponse:
        """RefundPayment (everything left when ``amount`` is None); the whole response."""
        request = build(svc.RefundPaymentRequest, payment_id=payment_id, amount=amount, **fields)
        return await self.call("RefundPayment", request)

    # Payments made ready in a given state.

    async def requires_confirmation(self, **fields: Any) -> pb.Payment:
        """A payment waiting for ConfirmPayment."""
        return await self.create(**manual_confirmation(**fields))

    async def authorized(self, **fields: Any) -> pb.Payment:
        """A payment holding funds, waiting for capture."""
        return await self.create(**manual_capture(**fields))

    async def captured(self, **fields: Any) -> pb.Payment:
        """A fully captured payment."""
        return await self.create(**fields)

    async def canceled(self) -> pb.Payment:
        """An authorized payment, voided."""
        return await self.cancel((await self.authorized()).id)

    async def partially_refunded(self) -> pb.Payment:
        """A captured payment of 10.00 with 1.00 refunded."""
        return (await self.refund((await self.captured()).id, usd(1))).payment

    async def refunded(self) -> pb.Payment:
        """A captured payment, fully refunded."""
        return (await self.refund((await self.captured()).id)).payment

    async def declined(self) -> pb.Payment:
        """A payment the issuer declined."""
        return await self.create(payment_method=card(CARD_DECLINED))

    async def failed(self) -> pb.Payment:
        """A payment the channel could not process."""
        return await self.create(payment_method=card(PROCESSING_ERROR))

    async def in_state(self, state: int) -> pb.Payment:
        """A payment in ``state`` (a Payment.State value)."""
        makers: dict[int, Callable[[], Awaitable[pb.Payment]]] = {
            S.STATE_REQUIRES_CONFIRMATION: self.requires_confirmation,
            S.STATE_AUTHORIZED: self.authorized,
            S.STATE_CAPTURED: self.captured,
            S.STATE_CANCELED: self.canceled,
            S.STATE_PARTIALLY_REFUNDED: self.partially_refunded,
            S.STATE_REFUNDED: self.refunded,
            S.STATE_DECLINED: self.declined,
            S.STATE_FAILED: self.failed,
        }
        payment = await makers[state]()
        assert payment.state == state
        return payment


@dataclass(frozen=True)
class VaultApi:
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

    async def tokenize(
        self, number: str, customer_id: str = "", **fields: Any
    ) -> vault_svc.CardToken:
        """TokenizeCard with a fresh request_id (for ``customer_id``, if any); the token."""
        request = vault_svc.TokenizeCardRequest(
            request_id=new_request_id(), card=card_data(number, **fields), customer_id=customer_id
        )
        return (await self.tokenize_request(request)).token

    async def get(self, token_id: str) -> vault_svc.CardToken:
        """GetCardToken."""
        request = vault_svc.GetCardTokenRequest(token_id=token_id)
        return (await self.stub.GetCardToken(request, metadata=self.metadata)).token
