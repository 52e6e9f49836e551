"""AccessService requests (platform administration) -> validated commands."""

from __future__ import annotations

from datetime import timedelta

from core.api.requests import fields
from core.auth.keys import MERCHANT_ID_SHAPE, PREFIX_SHAPE
from core.auth.policy import Role
from core.domain.audit import AuditFilter
from core.domain.errors import ViolationCollector
from core.service.access import MAX_ROTATION_OVERLAP, NewApiKey, NewMerchant
from paycore.v1 import access_service_pb2 as access_pb

_ROLES = {
    access_pb.ApiKey.ROLE_MERCHANT: Role.MERCHANT,
    access_pb.ApiKey.ROLE_ADMIN: Role.ADMIN,
    access_pb.ApiKey.ROLE_SUPERADMIN: Role.SUPERADMIN,
}


def _merchant_id(v: ViolationCollector, field: str, value: str) -> None:
    if not value:
        v.add(field, "required")
    elif not MERCHANT_ID_SHAPE.fullmatch(value):
        v.add(field, "must be 1 to 64 letters, digits, '_' or '-'")


def _key_prefix(v: ViolationCollector, value: str) -> None:
    if not value:
        v.add("prefix", "required")
    elif not PREFIX_SHAPE.fullmatch(value):
        v.add("prefix", "must be a key prefix: pck_ followed by 12 base32 characters")


def create_merchant(request: access_pb.CreateMerchantRequest) -> NewMerchant:
    """Validate a CreateMerchantRequest."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _merchant_id(v, "merchant_id", request.merchant_id)
    if not request.display_name.strip():
        v.add("display_name", "required")
    fields.text(v, "display_name", request.display_name, 200)
    v.raise_if_any()
    return NewMerchant(request.merchant_id, request.display_name, request.raw_card_data_allowed)


def merchant_id_of(request: access_pb.GetMerchantRequest) -> str:
    """Validate a GetMerchantRequest; returns the merchant id."""
    v = ViolationCollector()
    _merchant_id(v, "merchant_id", request.merchant_id)
    v.raise_if_any()
    return request.merchant_id


def create_api_key(request: access_pb.CreateApiKeyRequest) -> NewApiKey:
    """Validate a CreateApiKeyRequest: superadmin keys have no merchant, the others one."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    role = _ROLES.get(request.role)
    if role is None:
        v.add("role", "required: ROLE_MERCHANT, ROLE_ADMIN or ROLE_SUPERADMIN")
    elif role is Role.SUPERADMIN:
        if request.merchant_id:
            v.add("merchant_id", "must be empty for a superadmin (platform) key")
    else:
        _merchant_id(v, "merchant_id", request.merchant_id)
    fields.text(v, "description", request.description, 200)
    v.raise_if_any()
    assert role is not None
    return NewApiKey(request.merchant_id or None, role, request.description)


def list_api_keys_of(request: access_pb.ListApiKeysRequest) -> str | None:
    """Validate a ListApiKeysRequest; the merchant id, or None for the platform's keys."""
    v = ViolationCollector()
    if request.merchant_id:
        _merchant_id(v, "merchant_id", request.merchant_id)
    v.raise_if_any()
    return request.merchant_id or None


def audit_filter(request: access_pb.ListAuditEventsRequest) -> AuditFilter:
    """Validate a ListAuditEventsRequest's filters."""
    v = ViolationCollector()
    if request.merchant_id:
        _merchant_id(v, "merchant_id", request.merchant_id)
    for name in ("resource_type", "resource_id", "action"):
        fields.text(v, name, getattr(request, name), 200)
    v.raise_if_any()
    return AuditFilter(
        request.merchant_id, request.resource_type, request.resource_id, request.action
    )


def revoke_api_key(request: access_pb.RevokeApiKeyRequest) -> str:
    """Validate a RevokeApiKeyRequest; returns the prefix."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _key_prefix(v, request.prefix)
    v.raise_if_any()
    return request.prefix


def rotate_api_key(request: access_pb.RotateApiKeyRequest) -> tuple[str, timedelta]:
    """Validate a RotateApiKeyRequest; returns the prefix and the overlap."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    _key_prefix(v, request.prefix)
    overlap = fields.duration_within(v, "overlap", request.overlap, MAX_ROTATION_OVERLAP)
    v.raise_if_any()
    return request.prefix, overlap
