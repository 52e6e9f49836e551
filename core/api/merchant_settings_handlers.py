"""The MerchantSettingsService RPCs (admin only): read and change a merchant's settings.

Runs through the same pipeline as PaymentService (``core.api.pipeline``);
validation is in ``core.api.requests.merchant_settings``.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.message import Message

from core.api.identity import Caller, IdentityResolver
from core.api.pipeline import Handler, service_handler
from core.api.requests import merchant_settings as validation
from core.api.requests.fingerprint import request_identity
from core.api.status import encode_error
from core.domain.merchant_settings import MerchantSettings
from core.service.execution import Encoder, Reply
from core.service.merchant_settings import MerchantSettingsService
from core.telemetry import Telemetry
from core.wire import convert
from paycore.v1 import merchant_settings_service_pb2 as settings_svc

SERVICE_NAME = "paycore.v1.MerchantSettingsService"

_UPDATE: Encoder[MerchantSettings] = Encoder(
    success=lambda settings: settings_svc.UpdateMerchantSettingsResponse(
        settings=convert.merchant_settings_to_proto(settings)
    ).SerializeToString(deterministic=True),
    failure=encode_error,
)


class MerchantSettingsHandlers:
    """One method per MerchantSettingsService RPC."""

    def __init__(self, service: MerchantSettingsService, secret: bytes) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints

    async def get_merchant_settings(
        self, caller: Caller, request: settings_svc.GetMerchantSettingsRequest
    ) -> settings_svc.GetMerchantSettingsResponse:
        settings = await self._service.get_settings(caller.merchant_id)
        return settings_svc.GetMerchantSettingsResponse(
            settings=convert.merchant_settings_to_proto(settings)
        )

    async def update_merchant_settings(
        self, caller: Caller, request: settings_svc.UpdateMerchantSettingsRequest
    ) -> Reply:
        update = validation.update_merchant_settings(caller.merchant_id, request)
        identity = request_identity(request, self._secret)
        return await self._service.update_settings(update, caller.actor, identity, _UPDATE)


def generic_handler(
    handlers: MerchantSettingsHandlers,
    identity: IdentityResolver,
    telemetry: Telemetry | None = None,
) -> grpc.GenericRpcHandler[Any, Any]:
    """The MerchantSettingsService method table for a grpc.aio server."""
    table: dict[str, tuple[type[Message], Handler]] = {
        "GetMerchantSettings": (
            settings_svc.GetMerchantSettingsRequest,
            handlers.get_merchant_settings,
        ),
        "UpdateMerchantSettings": (
            settings_svc.UpdateMerchantSettingsRequest,
            handlers.update_merchant_settings,
        ),
    }
    return service_handler(
        settings_svc.DESCRIPTOR.services_by_name["MerchantSettingsService"],
        table,
        identity,
        telemetry,
    )
