"""The AccessService RPCs: merchants and API keys, for superadmin keys.

Runs through the same pipeline as every service (``core.api.pipeline``). A
key's secret is added to the reply of the call that created it and to no
other: the stored reply, which retries replay, holds the key without it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import struct_pb2
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.requests import access as validation
from core.api.requests.fingerprint import request_identity
from core.api.requests.pages import cursor_page, encode_cursor
from core.api.reveal import reveal_once
from core.api.status import encode_error
from core.auth.keys import ApiKey, Merchant
from core.auth.policy import Role
from core.domain.audit import StoredAudit
from core.service.access import AccessService, Rotation
from core.service.execution import Encoder, Reply, RequestIdentity
from core.telemetry import Telemetry
from core.wire import convert
from paycore.v1 import access_service_pb2 as pb

SERVICE_NAME = "paycore.v1.AccessService"

_ROLE_TO_PROTO = {
    Role.MERCHANT: pb.ApiKey.ROLE_MERCHANT,
    Role.ADMIN: pb.ApiKey.ROLE_ADMIN,
    Role.SUPERADMIN: pb.ApiKey.ROLE_SUPERADMIN,
}


def merchant_to_proto(merchant: Merchant) -> pb.Merchant:
    """A merchant as its API message."""
    return pb.Merchant(
        id=merchant.id,
        display_name=merchant.display_name,
        raw_card_data_allowed=merchant.raw_card_data_allowed,
        create_time=convert.timestamp(merchant.created_at),
    )


def api_key_to_proto(key: ApiKey) -> pb.ApiKey:
    """A key as its API message (never its secret)."""
    message = pb.ApiKey(
        prefix=key.prefix,
        merchant_id=key.merchant_id or "",
        role=_ROLE_TO_PROTO[key.role],
        description=key.description,
        create_time=convert.timestamp(key.created_at),
        rotated_to=key.rotated_to or "",
    )
    if key.expires_at is not None:
        message.expire_time.CopyFrom(convert.timestamp(key.expires_at))
    if key.revoked_at is not None:
        message.revoke_time.CopyFrom(convert.timestamp(key.revoked_at))
    return message


def _struct(value: Mapping[str, Any] | None) -> struct_pb2.Struct | None:
    if value is None:
        return None
    message = struct_pb2.Struct()
    message.update(json.loads(json.dumps(dict(value), default=str)))
    return message


def audit_event_to_proto(stored: StoredAudit) -> pb.AuditEvent:
    """An audit record as its API message."""
    record = stored.record
    return pb.AuditEvent(
        id=stored.id,
        time=convert.timestamp(record.at),
        actor_role=record.actor.role,
        actor_key_prefix=record.actor.key_id or "",
        actor_merchant_id=record.actor.merchant_id or "",
        action=record.action,
        resource_type=record.resource_type,
        resource_id=record.resource_id,
        merchant_id=record.merchant_id or "",
        before=_struct(record.before),
        after=_struct(record.after),
        details=_struct(record.details),
    )


def _bytes(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)


_MERCHANT: Encoder[Merchant] = Encoder(
    success=lambda m: _bytes(pb.CreateMerchantResponse(merchant=merchant_to_proto(m))),
    failure=encode_error,
)
_CREATED_KEY: Encoder[ApiKey] = Encoder(
    success=lambda k: _bytes(pb.CreateApiKeyResponse(api_key=api_key_to_proto(k))),
    failure=encode_error,
)
_REVOKED_KEY: Encoder[ApiKey] = Encoder(
    success=lambda k: _bytes(pb.RevokeApiKeyResponse(api_key=api_key_to_proto(k))),
    failure=encode_error,
)
_ROTATED: Encoder[Rotation] = Encoder(
    success=lambda r: _bytes(
        pb.RotateApiKeyResponse(
            api_key=api_key_to_proto(r.new), previous=api_key_to_proto(r.previous)
        )
    ),
    failure=encode_error,
)

_MERCHANTS_SCOPE = "ListMerchants"


class AccessHandlers:
    """One method per AccessService RPC."""

    def __init__(self, service: AccessService, secret: bytes) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints, signs page tokens

    def _identity(self, request: Any) -> RequestIdentity:
        return request_identity(request, self._secret)

    async def create_merchant(self, caller: Caller, request: pb.CreateMerchantRequest) -> Reply:
        command = validation.create_merchant(request)
        return await self._service.create_merchant(
            caller.actor, command, self._identity(request), _MERCHANT
        )

    async def get_merchant(
        self, caller: Caller, request: pb.GetMerchantRequest
    ) -> pb.GetMerchantResponse:
        merchant = await self._service.get_merchant(validation.merchant_id_of(request))
        return pb.GetMerchantResponse(merchant=merchant_to_proto(merchant))

    async def list_merchants(
        self, caller: Caller, request: pb.ListMerchantsRequest
    ) -> pb.ListMerchantsResponse:
        size, after = cursor_page(
            request.page_size, request.page_token, self._secret, _MERCHANTS_SCOPE
        )
        merchants = await self._service.list_merchants(after, size + 1)
        token = ""
        if len(merchants) > size:
            merchants = merchants[:size]
            token = encode_cursor(merchants[-1].id, self._secret, _MERCHANTS_SCOPE)
        return pb.ListMerchantsResponse(
            merchants=[merchant_to_proto(m) for m in merchants], next_page_token=token
        )

    async def list_audit_events(
        self, caller: Caller, request: pb.ListAuditEventsRequest
    ) -> pb.ListAuditEventsResponse:
        where = validation.audit_filter(request)
        # The filters are part of the token's scope: a token of one listing is refused by another.
        scope = f"ListAuditEvents:{where}"
        size, cursor = cursor_page(request.page_size, request.page_token, self._secret, scope)
        events = await self._service.list_audit(where, int(cursor) if cursor else None, size + 1)
        token = ""
        if len(events) > size:
            events = events[:size]
            token = encode_cursor(str(events[-1].id), self._secret, scope)
        return pb.ListAuditEventsResponse(
            events=[audit_event_to_proto(e) for e in events], next_page_token=token
        )

    async def create_api_key(self, caller: Caller, request: pb.CreateApiKeyRequest) -> Reply:
        command = validation.create_api_key(request)
        reply, issued = await self._service.create_api_key(
            caller.actor, command, self._identity(request), _CREATED_KEY
        )
        return reveal_once(reply, pb.CreateApiKeyResponse, issued.secret if issued else None)

    async def list_api_keys(
        self, caller: Caller, request: pb.ListApiKeysRequest
    ) -> pb.ListApiKeysResponse:
        keys = await self._service.list_api_keys(validation.list_api_keys_of(request))
        return pb.ListApiKeysResponse(api_keys=[api_key_to_proto(k) for k in keys])

    async def revoke_api_key(self, caller: Caller, request: pb.RevokeApiKeyRequest) -> Reply:
        prefix = validation.revoke_api_key(request)
        return await self._service.revoke_api_key(
            caller.actor, prefix, self._identity(request), _REVOKED_KEY
        )

    async def rotate_api_key(self, caller: Caller, request: pb.RotateApiKeyRequest) -> Reply:
        prefix, overlap = validation.rotate_api_key(request)
        reply, issued = await self._service.rotate_api_key(
            caller.actor, prefix, overlap, self._identity(request), _ROTATED
        )
        return reveal_once(reply, pb.RotateApiKeyResponse, issued.secret if issued else None)


def generic_handler(
    handlers: AccessHandlers, identity: IdentityResolver, telemetry: Telemetry | None = None
) -> grpc.GenericRpcHandler[Any, Any]:
    """The AccessService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "CreateMerchant": (pb.CreateMerchantRequest, handlers.create_merchant),
        "GetMerchant": (pb.GetMerchantRequest, handlers.get_merchant),
        "ListMerchants": (pb.ListMerchantsRequest, handlers.list_merchants),
        "CreateApiKey": (pb.CreateApiKeyRequest, handlers.create_api_key),
        "ListApiKeys": (pb.ListApiKeysRequest, handlers.list_api_keys),
        "RevokeApiKey": (pb.RevokeApiKeyRequest, handlers.revoke_api_key),
        "RotateApiKey": (pb.RotateApiKeyRequest, handlers.rotate_api_key),
        "ListAuditEvents": (pb.ListAuditEventsRequest, handlers.list_audit_events),
    }
    return service_handler(
        pb.DESCRIPTOR.services_by_name["AccessService"], table, identity, telemetry
    )
