"""The MandateService RPCs (issue 20): validate, call the use case, convert the answer.

Every RPC runs through the pipeline of ``core.api.pipeline``; validation is
``core.api.requests.mandates``, the messages ``core.wire.mandates``. A
mandate's status is shown as of the answer (stored replies keep the status
they were first sent with).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.requests import mandates as validation
from core.api.requests.fingerprint import request_identity
from core.api.requests.pages import encode_cursor
from core.api.status import encode_error
from core.domain import clock as wall_clock
from core.domain.mandates import Mandate
from core.service.execution import Encoder, Reply
from core.service.mandates.service import MandateService
from core.telemetry import Telemetry
from core.wire.mandates import mandate_to_proto, payment_method_to_proto
from paycore.v1 import mandate_service_pb2 as pb

SERVICE_NAME = "paycore.v1.MandateService"


def _bytes(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


class MandateHandlers:
    """One method per MandateService RPC."""

    def __init__(
        self,
        service: MandateService,
        secret: bytes,
        clock: Callable[[], datetime] = wall_clock.now,
    ) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints, signs page tokens
        self._clock = clock
        self._setup: Encoder[Mandate] = Encoder(
            lambda m: _bytes(pb.SetupPaymentMethodResponse(mandate=self._shown(m))), encode_error
        )
        self._revoke: Encoder[Mandate] = Encoder(
            lambda m: _bytes(pb.RevokeMandateResponse(mandate=self._shown(m))), encode_error
        )

    def _shown(self, mandate: Mandate) -> pb.Mandate:
        return mandate_to_proto(mandate, self._clock())

    async def setup_payment_method(
        self, caller: Caller, request: pb.SetupPaymentMethodRequest
    ) -> Reply:
        command = validation.setup_payment_method(caller.merchant_id, request, self._clock())
        identity = request_identity(request, self._secret)
        return await self._service.setup_payment_method(command, identity, self._setup)

    async def list_payment_methods(
        self, caller: Caller, request: pb.ListPaymentMethodsRequest
    ) -> pb.ListPaymentMethodsResponse:
        query = validation.list_payment_methods(caller.merchant_id, request, self._secret)
        methods, more = await self._service.list_payment_methods(query)
        token = ""
        if more and methods:
            scope = validation.list_scope(caller.merchant_id, request)
            token = encode_cursor(methods[-1].card_token, self._secret, scope)
        at = self._clock()
        return pb.ListPaymentMethodsResponse(
            payment_methods=[payment_method_to_proto(m, at) for m in methods],
            next_page_token=token,
        )

    async def revoke_mandate(self, caller: Caller, request: pb.RevokeMandateRequest) -> Reply:
        mandate_id = validation.mandate_id_of(request)
        identity = request_identity(request, self._secret)
        return await self._service.revoke_mandate(
            caller.merchant_id, mandate_id, identity, self._revoke
        )


def generic_handler(
    handlers: MandateHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The MandateService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "SetupPaymentMethod": (pb.SetupPaymentMethodRequest, handlers.setup_payment_method),
        "ListPaymentMethods": (pb.ListPaymentMethodsRequest, handlers.list_payment_methods),
        "RevokeMandate": (pb.RevokeMandateRequest, handlers.revoke_mandate),
    }
    return service_handler(
        pb.DESCRIPTOR.services_by_name["MandateService"], table, identity, telemetry
    )
