"""Typed Python client of paycore's PaymentService, blocking and asyncio.

    from paycore.client import PaycoreClient, card, card_token, money
    from paycore.v1.payment_pb2 import CAPTURE_METHOD_MANUAL

    with PaycoreClient("localhost:50051", api_key="pck_...") as client:
        token = client.tokenize_card(card("4242424242424242", 12, 2030, cvc="123"))
        payment = client.create_payment(
            amount=money(1050, "USD"),
            payment_method=card_token(token.id),
            capture_method=CAPTURE_METHOD_MANUAL,
        )
        client.capture_payment(payment.id)

Methods return the generated protobuf messages (paycore.v1), retry what may
succeed later with the same request_id, and raise PaycoreError subclasses.
"""

from ._async import AsyncPaycoreClient
from ._card import card, card_token, qr_wallet, redirect_wallet
from ._errors import (
    AbortedError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PaycoreError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
    UnknownError,
    from_rpc_error,
)
from ._money import money, to_minor
from ._requests import CustomerOptions, PaymentFilters, RefundFilters
from ._retry import RetryPolicy, is_retryable
from ._sync import PaycoreClient
from ._tls import tls_credentials
from .webhooks import WebhookSignatureError, verify_webhook_signature

__all__ = [
    "AbortedError",
    "AsyncPaycoreClient",
    "CustomerOptions",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "PaycoreClient",
    "PaycoreError",
    "PaymentFilters",
    "PermissionDeniedError",
    "RefundFilters",
    "ResourceExhaustedError",
    "RetryPolicy",
    "UnauthenticatedError",
    "UnavailableError",
    "UnknownError",
    "WebhookSignatureError",
    "card",
    "card_token",
    "from_rpc_error",
    "is_retryable",
    "money",
    "qr_wallet",
    "redirect_wallet",
    "tls_credentials",
    "to_minor",
    "verify_webhook_signature",
]
