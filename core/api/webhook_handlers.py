"""The WebhookService and EventService RPCs (merchant notifications, issue 7).

Both run through the pipeline of ``core.api.pipeline`` (caller, policy,
parsing, one error mapping); StreamEvents is its server-streaming variant.
Validation is in ``core.api.requests.webhooks``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, StreamHandler, service_handler
from core.api.requests import webhooks as validation
from core.api.requests.fingerprint import request_identity
from core.api.requests.pages import encode_cursor
from core.api.reveal import reveal_once
from core.api.status import encode_error
from core.domain.notifications import Delivery, DeliveryState, WebhookEndpoint
from core.events.snapshot import event_to_proto
from core.service.execution import Encoder, Reply, RequestIdentity
from core.service.webhooks import EndpointWithSecret, EventStreams, WebhookService
from core.telemetry import Telemetry
from core.wire import convert
from paycore.v1 import event_service_pb2 as event_svc
from paycore.v1 import webhook_service_pb2 as wh

WEBHOOK_SERVICE_NAME = "paycore.v1.WebhookService"
EVENT_SERVICE_NAME = "paycore.v1.EventService"

_DELIVERY_STATE = {
    DeliveryState.PENDING: wh.WebhookDelivery.STATE_PENDING,
    DeliveryState.SUCCEEDED: wh.WebhookDelivery.STATE_SUCCEEDED,
    DeliveryState.DEAD: wh.WebhookDelivery.STATE_DEAD,
}


def endpoint_to_proto(endpoint: WebhookEndpoint) -> wh.WebhookEndpoint:
    """An endpoint as its API message: never its secret."""
    message = wh.WebhookEndpoint(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=list(endpoint.event_types),
        enabled=endpoint.enabled,
        create_time=convert.timestamp(endpoint.created_at),
        update_time=convert.timestamp(endpoint.updated_at),
    )
    if endpoint.previous_secret and endpoint.previous_until is not None:
        message.previous_secret_expire_time.CopyFrom(convert.timestamp(endpoint.previous_until))
    return message


def delivery_to_proto(delivery: Delivery) -> wh.WebhookDelivery:
    """A delivery and its attempts as their API message."""
    message = wh.WebhookDelivery(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        event_sequence=delivery.event_sequence,
        state=_DELIVERY_STATE[delivery.state],
        create_time=convert.timestamp(delivery.created_at),
    )
    if delivery.next_attempt_at is not None:
        message.next_attempt_time.CopyFrom(convert.timestamp(delivery.next_attempt_at))
    for attempt in delivery.history:
        latency = duration_pb2.Duration()
        latency.FromMilliseconds(attempt.latency_ms)
        message.attempts.append(
            wh.WebhookAttempt(
                attempt=attempt.attempt,
                attempt_time=convert.timestamp(attempt.at),
                status_code=attempt.status_code,
                latency=latency,
                error=attempt.error,
            )
        )
    return message


def _bytes(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


# Stored replies carry no secret (replays must not show it again); the handler
# adds it to the live reply of the call that made it (reveal_once).
_CREATE: Encoder[EndpointWithSecret] = Encoder(
    success=lambda made: _bytes(
        wh.CreateWebhookEndpointResponse(endpoint=endpoint_to_proto(made.endpoint))
    ),
    failure=encode_error,
)
_ROTATE: Encoder[EndpointWithSecret] = Encoder(
    success=lambda made: _bytes(
        wh.RotateWebhookSecretResponse(endpoint=endpoint_to_proto(made.endpoint))
    ),
    failure=encode_error,
)
_UPDATE: Encoder[WebhookEndpoint] = Encoder(
    success=lambda endpoint: _bytes(
        wh.UpdateWebhookEndpointResponse(endpoint=endpoint_to_proto(endpoint))
    ),
    failure=encode_error,
)
_DELETE: Encoder[WebhookEndpoint] = Encoder(
    success=lambda _: _bytes(wh.DeleteWebhookEndpointResponse()), failure=encode_error
)
_REDELIVER: Encoder[list[Delivery]] = Encoder(
    success=lambda deliveries: _bytes(
        wh.RedeliverEventResponse(deliveries=[delivery_to_proto(d) for d in deliveries])
    ),
    failure=encode_error,
)


class WebhookHandlers:
    """One method per WebhookService RPC: validate, call the service, convert the answer."""

    def __init__(self, service: WebhookService, secret: bytes) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints

    def _identity(self, request: Any) -> RequestIdentity:
        return request_identity(request, self._secret)

    async def create_webhook_endpoint(
        self, caller: Caller, request: wh.CreateWebhookEndpointRequest
    ) -> Reply:
        command = validation.create_endpoint(caller.merchant_id, request)
        reply, secret = await self._service.create_endpoint(
            command, self._identity(request), _CREATE
        )
        return reveal_once(reply, wh.CreateWebhookEndpointResponse, secret)

    async def get_webhook_endpoint(
        self, caller: Caller, request: wh.GetWebhookEndpointRequest
    ) -> wh.GetWebhookEndpointResponse:
        endpoint_id = validation.endpoint_id_of(request)
        endpoint = await self._service.get_endpoint(caller.merchant_id, endpoint_id)
        return wh.GetWebhookEndpointResponse(endpoint=endpoint_to_proto(endpoint))

    async def list_webhook_endpoints(
        self, caller: Caller, request: wh.ListWebhookEndpointsRequest
    ) -> wh.ListWebhookEndpointsResponse:
        endpoints = await self._service.list_endpoints(caller.merchant_id)
        return wh.ListWebhookEndpointsResponse(endpoints=[endpoint_to_proto(e) for e in endpoints])

    async def update_webhook_endpoint(
        self, caller: Caller, request: wh.UpdateWebhookEndpointRequest
    ) -> Reply:
        command = validation.update_endpoint(caller.merchant_id, request)
        return await self._service.update_endpoint(command, self._identity(request), _UPDATE)

    async def delete_webhook_endpoint(
        self, caller: Caller, request: wh.DeleteWebhookEndpointRequest
    ) -> Reply:
        endpoint_id = validation.endpoint_id_of(request)
        return await self._service.delete_endpoint(
            caller.merchant_id, endpoint_id, self._identity(request), _DELETE
        )

    async def rotate_webhook_secret(
        self, caller: Caller, request: wh.RotateWebhookSecretRequest
    ) -> Reply:
        command = validation.rotate_secret(caller.merchant_id, request)
        reply, secret = await self._service.rotate_secret(command, self._identity(request), _ROTATE)
        return reveal_once(reply, wh.RotateWebhookSecretResponse, secret)

    async def list_webhook_deliveries(
        self, caller: Caller, request: wh.ListWebhookDeliveriesRequest
    ) -> wh.ListWebhookDeliveriesResponse:
        query = validation.list_deliveries(caller.merchant_id, request, self._secret)
        deliveries, more = await self._service.list_deliveries(query)
        token = ""
        if more and deliveries:
            scope = validation.deliveries_scope(caller.merchant_id, request)
            token = encode_cursor(str(deliveries[-1].id), self._secret, scope)
        return wh.ListWebhookDeliveriesResponse(
            deliveries=[delivery_to_proto(d) for d in deliveries], next_page_token=token
        )

    async def redeliver_event(self, caller: Caller, request: wh.RedeliverEventRequest) -> Reply:
        event_id, endpoint_id = validation.redeliver_event(request)
        return await self._service.redeliver_event(
            caller.merchant_id, event_id, endpoint_id, self._identity(request), _REDELIVER
        )


class EventHandlers:
    """EventService: the stream of the caller's events."""

    def __init__(self, streams: EventStreams) -> None:
        self._streams = streams

    async def stream_events(
        self, caller: Caller, request: event_svc.StreamEventsRequest
    ) -> AsyncIterator[event_svc.StreamEventsResponse]:
        after, types = validation.stream_events(request)
        async for event in self._streams.stream(caller.merchant_id, after, types):
            yield event_svc.StreamEventsResponse(event=event_to_proto(event))


def webhook_generic_handler(
    handlers: WebhookHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The WebhookService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "CreateWebhookEndpoint": (
            wh.CreateWebhookEndpointRequest,
            handlers.create_webhook_endpoint,
        ),
        "GetWebhookEndpoint": (wh.GetWebhookEndpointRequest, handlers.get_webhook_endpoint),
        "ListWebhookEndpoints": (wh.ListWebhookEndpointsRequest, handlers.list_webhook_endpoints),
        "UpdateWebhookEndpoint": (
            wh.UpdateWebhookEndpointRequest,
            handlers.update_webhook_endpoint,
        ),
        "DeleteWebhookEndpoint": (
            wh.DeleteWebhookEndpointRequest,
            handlers.delete_webhook_endpoint,
        ),
        "RotateWebhookSecret": (wh.RotateWebhookSecretRequest, handlers.rotate_webhook_secret),
        "ListWebhookDeliveries": (
            wh.ListWebhookDeliveriesRequest,
            handlers.list_webhook_deliveries,
        ),
        "RedeliverEvent": (wh.RedeliverEventRequest, handlers.redeliver_event),
    }
    return service_handler(
        wh.DESCRIPTOR.services_by_name["WebhookService"], table, identity, telemetry
    )


def event_generic_handler(
    handlers: EventHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The EventService method table for a grpc.aio server."""
    streams: dict[str, tuple[type[Message], StreamHandler]] = {
        "StreamEvents": (event_svc.StreamEventsRequest, handlers.stream_events),
    }
    return service_handler(
        event_svc.DESCRIPTOR.services_by_name["EventService"], {}, identity, telemetry, streams
    )
