"""How the API's payment RPCs answer: the payment's reply bytes, or the error's status."""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import Message

from core.api.status import encode_error
from core.domain.payment import Payment
from core.service.execution import Encoder
from core.wire.serialized import payment_reply


def payment_encoder(response_type: Callable[..., Message]) -> Encoder[Payment]:
    """The Encoder of an RPC answering ``response_type(payment=...)`` (or a business error)."""
    return Encoder(success=payment_reply(response_type), failure=encode_error)
