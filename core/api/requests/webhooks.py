"""WebhookService and EventService requests -> validated commands."""

from __future__ import annotations

import re
from datetime import timedelta

from core.api.requests import fields
from core.api.requests.pages import signed_cursor
from core.domain.digits import is_ascii_digits
from core.domain.errors import FieldViolation, Reason, ValidationError, ViolationCollector
from core.domain.notifications import DeliveryState
from core.events.derive import EVENT_TYPES
from core.ports.webhooks import DeliveryQuery
from core.service.webhooks import CreateEndpoint, RotateSecret, UpdateEndpoint
from paycore.v1 import event_service_pb2 as event_svc
from paycore.v1 import webhook_service_pb2 as wh

MAX_ENDPOINT_DESCRIPTION = 500
MAX_OVERLAP = timedelta(days=7)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
UPDATABLE_FIELDS = ("url", "description", "event_types", "enabled")

_ULID_BODY = r"[0-9A-HJKMNP-TV-Z]{26}"

DELIVERY_STATE_FROM_PROTO = {
    wh.WebhookDelivery.STATE_PENDING: DeliveryState.PENDING,
    wh.WebhookDelivery.STATE_SUCCEEDED: DeliveryState.SUCCEEDED,
    wh.WebhookDelivery.STATE_DEAD: DeliveryState.DEAD,
}


def _resource_id(
    v: ViolationCollector, field: str, value: str, prefix: str, *, required: bool
) -> None:
    if not value:
        if required:
            v.add(field, "required")
    elif not re.fullmatch(rf"{prefix}_{_ULID_BODY}", value):
        v.add(field, f"must be an id: {prefix}_ followed by 26 base32 characters")


def _endpoint_id(v: ViolationCollector, value: str, *, required: bool = True) -> None:
    _resource_id(v, "endpoint_id", value, "whe", required=required)


def _event_id(v: ViolationCollector, value: str, *, required: bool = True) -> None:
    _resource_id(v, "event_id", value, "evt", required=required)


def _url(v: ViolationCollector, value: str) -> None:
    if not value:
        v.add("url", "required")
        return
    fields.web_url(v, "url", value)


def _event_types(v: ViolationCollector, field: str, values: list[str]) -> tuple[str, ...]:
    for index, value in enumerate(values):
        if value not in EVENT_TYPES:
            v.add(f"{field}[{index}]", f"unknown event type; one of {', '.join(EVENT_TYPES)}")
    return tuple(sorted(set(values)))


def create_endpoint(merchant_id: str, request: wh.CreateWebhookEndpointRequest) -> CreateEndpoint:
    """Validate a CreateWebhookEndpointRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _url(v, request.url)
    fields.text(v, "description", request.description, MAX_ENDPOINT_DESCRIPTION)
    types = _event_types(v, "event_types", list(request.event_types))
    v.raise_if_any()
    return CreateEndpoint(merchant_id, request.url, request.description, types)


def update_endpoint(merchant_id: str, request: wh.UpdateWebhookEndpointRequest) -> UpdateEndpoint:
    """Validate an UpdateWebhookEndpointRequest: only the fields named in update_mask change."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _endpoint_id(v, request.endpoint_id)
    paths = list(request.update_mask.paths)
    if not paths:
        v.add("update_mask", f"required: name the fields to change ({', '.join(UPDATABLE_FIELDS)})")
    for path in paths:
        if path not in UPDATABLE_FIELDS:
            v.add("update_mask", f"cannot update {path!r}; only {', '.join(UPDATABLE_FIELDS)}")
    if "url" in paths:
        _url(v, request.url)
    if "description" in paths:
        fields.text(v, "description", request.description, MAX_ENDPOINT_DESCRIPTION)
    types = _event_types(v, "event_types", list(request.event_types))
    v.raise_if_any()
    return UpdateEndpoint(
        merchant_id,
        request.endpoint_id,
        url=request.url if "url" in paths else None,
        description=request.description if "description" in paths else None,
        event_types=types if "event_types" in paths else None,
        enabled=request.enabled if "enabled" in paths else None,
    )


def endpoint_id_of(
    request: wh.GetWebhookEndpointRequest | wh.DeleteWebhookEndpointRequest,
) -> str:
    """Validate a request naming one endpoint (and, for Delete, its request_id)."""
    v = ViolationCollector()
    if isinstance(request, wh.DeleteWebhookEndpointRequest):
        fields.request_id(v, request.request_id)
    _endpoint_id(v, request.endpoint_id)
    v.raise_if_any()
    return request.endpoint_id


def rotate_secret(merchant_id: str, request: wh.RotateWebhookSecretRequest) -> RotateSecret:
    """Validate a RotateWebhookSecretRequest (overlap 0 to 7 days; unset: the default)."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _endpoint_id(v, request.endpoint_id)
    overlap: timedelta | None = None
    if request.HasField("overlap"):
        overlap = fields.duration_within(v, "overlap", request.overlap, MAX_OVERLAP)
    v.raise_if_any()
    return RotateSecret(merchant_id, request.endpoint_id, overlap)


def redeliver_event(request: wh.RedeliverEventRequest) -> tuple[str, str]:
    """Validate a RedeliverEventRequest; returns (event_id, endpoint_id or "")."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _event_id(v, request.event_id)
    _endpoint_id(v, request.endpoint_id, required=False)
    v.raise_if_any()
    return request.event_id, request.endpoint_id


def deliveries_scope(merchant_id: str, request: wh.ListWebhookDeliveriesRequest) -> str:
    """What a ListWebhookDeliveries page token is signed for: the merchant and the filters."""
    states = ",".join(str(state) for state in sorted(request.states))
    return f"ListWebhookDeliveries:{merchant_id}:{request.endpoint_id}:{request.event_id}:{states}"


def _before_id(cursor: str) -> int | None:
    if not cursor:
        return None
    if not is_ascii_digits(cursor, 1, 18):  # signed by us, so only a bug gets here
        raise ValidationError(
            [FieldViolation("page_token", "malformed: pass next_page_token unchanged")],
            Reason.INVALID_PAGE_TOKEN,
        )
    return int(cursor)


def list_deliveries(
    merchant_id: str, request: wh.ListWebhookDeliveriesRequest, key: bytes
) -> DeliveryQuery:
    """Validate a ListWebhookDeliveriesRequest (``key`` verifies its page token: one paycore
    signed for this merchant and these filters, ``deliveries_scope``)."""
    v = ViolationCollector()
    _endpoint_id(v, request.endpoint_id, required=False)
    _event_id(v, request.event_id, required=False)
    states: list[DeliveryState] = []
    for index, state in enumerate(request.states):
        if state not in DELIVERY_STATE_FROM_PROTO:
            v.add(f"states[{index}]", "unknown state")
        else:
            states.append(DELIVERY_STATE_FROM_PROTO[state])
    if not 0 <= request.page_size <= MAX_PAGE_SIZE:
        v.add("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    v.raise_if_any()
    cursor = signed_cursor(request.page_token, key, deliveries_scope(merchant_id, request))
    return DeliveryQuery(
        merchant_id=merchant_id,
        endpoint_id=request.endpoint_id,
        event_id=request.event_id,
        states=tuple(states),
        before_id=_before_id(cursor),
        page_size=request.page_size or DEFAULT_PAGE_SIZE,
    )


def stream_events(request: event_svc.StreamEventsRequest) -> tuple[int, tuple[str, ...]]:
    """Validate a StreamEventsRequest; returns (after_sequence, event types)."""
    v = ViolationCollector()
    if request.after_sequence < 0:
        v.add("after_sequence", "must not be negative (0 streams from the first event)")
    types = _event_types(v, "event_types", list(request.event_types))
    v.raise_if_any()
    return request.after_sequence, types
