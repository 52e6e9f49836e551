"""The DisputeService RPCs: read disputes, submit evidence, accept (issue 22).

Validation is in ``core.api.requests.disputes``; the use cases in
``core.service.disputes``; the dispute message in ``core.wire.disputes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.requests import disputes as validation
from core.api.requests.fingerprint import request_identity
from core.api.requests.pages import encode_cursor
from core.api.status import encode_error
from core.domain.disputes import Dispute
from core.service.disputes import DisputeService
from core.service.execution import Encoder, Reply
from core.telemetry import Telemetry
from core.wire.disputes import dispute_rate_to_proto, dispute_to_proto
from paycore.v1 import dispute_service_pb2 as svc

SERVICE_NAME = "paycore.v1.DisputeService"


def _encoder(response: Callable[..., Message]) -> Encoder[Dispute]:
    return Encoder(
        success=lambda dispute: response(dispute=dispute_to_proto(dispute)).SerializeToString(
            deterministic=True
        ),
        failure=encode_error,
    )


class DisputeHandlers:
    """One method per DisputeService RPC."""

    def __init__(self, service: DisputeService, secret: bytes) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints and signs page tokens
        self._evidence = _encoder(svc.SubmitEvidenceResponse)
        self._accepted = _encoder(svc.AcceptDisputeResponse)

    async def get_dispute(
        self, caller: Caller, request: svc.GetDisputeRequest
    ) -> svc.GetDisputeResponse:
        dispute_id = validation.dispute_id_of(request)
        dispute = await self._service.get_dispute(caller.merchant_id, dispute_id)
        return svc.GetDisputeResponse(dispute=dispute_to_proto(dispute))

    async def list_disputes(
        self, caller: Caller, request: svc.ListDisputesRequest
    ) -> svc.ListDisputesResponse:
        query = validation.list_disputes(caller.merchant_id, request, self._secret)
        page, more = await self._service.list_disputes(query)
        token = ""
        if more and page:
            cursor = validation.page_cursor(page[-1])
            token = encode_cursor(
                cursor, self._secret, validation.list_scope(caller.merchant_id, request)
            )
        return svc.ListDisputesResponse(
            disputes=[dispute_to_proto(d) for d in page], next_page_token=token
        )

    async def get_dispute_rate(
        self, caller: Caller, request: svc.GetDisputeRateRequest
    ) -> svc.GetDisputeRateResponse:
        start, end = validation.dispute_rate_window(request)
        return dispute_rate_to_proto(
            await self._service.dispute_rate(caller.merchant_id, start, end)
        )

    async def submit_evidence(self, caller: Caller, request: svc.SubmitEvidenceRequest) -> Reply:
        dispute_id, evidence = validation.submit_evidence(request)
        identity = request_identity(request, self._secret)
        return await self._service.submit_evidence(
            caller.merchant_id, dispute_id, evidence, identity, self._evidence
        )

    async def accept_dispute(self, caller: Caller, request: svc.AcceptDisputeRequest) -> Reply:
        dispute_id = validation.dispute_id_of(request)
        identity = request_identity(request, self._secret)
        return await self._service.accept_dispute(
            caller.merchant_id, dispute_id, identity, self._accepted
        )


def generic_handler(
    handlers: DisputeHandlers,
    identity: IdentityResolver,
    telemetry: Telemetry | None = None,
) -> grpc.GenericRpcHandler[Any, Any]:
    """The DisputeService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "GetDispute": (svc.GetDisputeRequest, handlers.get_dispute),
        "ListDisputes": (svc.ListDisputesRequest, handlers.list_disputes),
        "SubmitEvidence": (svc.SubmitEvidenceRequest, handlers.submit_evidence),
        "AcceptDispute": (svc.AcceptDisputeRequest, handlers.accept_dispute),
        "GetDisputeRate": (svc.GetDisputeRateRequest, handlers.get_dispute_rate),
    }
    return service_handler(
        svc.DESCRIPTOR.services_by_name["DisputeService"], table, identity, telemetry
    )
