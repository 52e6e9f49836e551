"""The RoutingService RPCs (admin only): read and set a merchant's own routing chain.

A chain travels as ``paycore.v1.RoutingChain`` and is kept in the routing
file's format (a JSON-ready table, see core/domain/merchant_routing.py); it is
checked by the same parser as the file, whose errors become field violations
(``core.api.requests.routing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.requests import routing as validation
from core.api.requests.fingerprint import request_identity
from core.api.status import encode_error
from core.domain.merchant_routing import MerchantRouting
from core.service.execution import Encoder, Reply
from core.service.merchant_routing import MerchantRoutingService
from core.telemetry import Telemetry
from core.wire import convert
from paycore.v1 import routing_service_pb2 as routing_svc

SERVICE_NAME = "paycore.v1.RoutingService"


def chain_to_proto(table: Mapping[str, Any]) -> routing_svc.RoutingChain:
    """A stored chain (the routing file's table) as its API message."""
    chain = routing_svc.RoutingChain(
        strategies=list(table.get("strategies", [])),
        rules=[routing_svc.RoutingRule(**rule) for rule in table.get("rules", [])],
        split=dict(table.get("split", {})),
    )
    if "health" in table:
        tuning = table["health"]
        chain.health.SetInParent()
        if "min_samples" in tuning:
            chain.health.min_samples.value = int(tuning["min_samples"])
        if "min_success_rate" in tuning:
            chain.health.min_success_rate_bps.value = round(tuning["min_success_rate"] * 10_000)
        if "max_latency_ms" in tuning:
            chain.health.max_latency_ms.value = int(tuning["max_latency_ms"])
    return chain


def routing_to_proto(
    routing: MerchantRouting, channels: frozenset[str]
) -> routing_svc.MerchantRouting:
    """A merchant's routing as its API message."""
    message = routing_svc.MerchantRouting(
        custom=routing.chain is not None, channels=sorted(channels)
    )
    if routing.chain is not None:
        message.chain.CopyFrom(chain_to_proto(routing.chain))
    if routing.updated_at is not None:
        message.update_time.CopyFrom(convert.timestamp(routing.updated_at))
    return message


class RoutingHandlers:
    """One method per RoutingService RPC."""

    def __init__(self, service: MerchantRoutingService, secret: bytes) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints
        channels = service.channels
        self._encoder: Encoder[MerchantRouting] = Encoder(
            success=lambda routing: routing_svc.SetMerchantRoutingResponse(
                routing=routing_to_proto(routing, channels)
            ).SerializeToString(deterministic=True),
            failure=encode_error,
        )

    async def get_merchant_routing(
        self, caller: Caller, request: routing_svc.GetMerchantRoutingRequest
    ) -> routing_svc.GetMerchantRoutingResponse:
        routing = await self._service.get_routing(caller.merchant_id)
        return routing_svc.GetMerchantRoutingResponse(
            routing=routing_to_proto(routing, self._service.channels)
        )

    async def set_merchant_routing(
        self, caller: Caller, request: routing_svc.SetMerchantRoutingRequest
    ) -> Reply:
        chain = validation.set_merchant_routing(request, self._service)
        identity = request_identity(request, self._secret)
        return await self._service.set_routing(
            caller.merchant_id, chain, caller.actor, identity, self._encoder
        )


def generic_handler(
    handlers: RoutingHandlers,
    identity: IdentityResolver,
    telemetry: Telemetry | None = None,
) -> grpc.GenericRpcHandler[Any, Any]:
    """The RoutingService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "GetMerchantRouting": (
            routing_svc.GetMerchantRoutingRequest,
            handlers.get_merchant_routing,
        ),
        "SetMerchantRouting": (
            routing_svc.SetMerchantRoutingRequest,
            handlers.set_merchant_routing,
        ),
    }
    return service_handler(
        routing_svc.DESCRIPTOR.services_by_name["RoutingService"], table, identity, telemetry
    )
