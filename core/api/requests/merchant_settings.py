"""MerchantSettingsService requests -> validated settings updates."""

from __future__ import annotations

from collections.abc import Iterable

from google.type import money_pb2

from core.api.requests import fields
from core.domain.errors import ViolationCollector
from core.domain.merchant_settings import MerchantSettingsUpdate
from core.domain.money import Money
from paycore.v1 import merchant_settings_service_pb2 as settings_svc

SETTINGS_FIELDS = ("refund_review_thresholds",)


def _thresholds(
    v: ViolationCollector, field: str, values: Iterable[money_pb2.Money]
) -> tuple[Money, ...]:
    """Refund review thresholds: known currencies, non-negative, one per currency."""
    thresholds: list[Money] = []
    seen: set[str] = set()
    for index, message in enumerate(values):
        where = f"{field}[{index}]"
        threshold = fields.money(v, where, message, positive=False)
        if threshold is None:
            continue
        if threshold.currency in seen:
            v.add(f"{where}.currency_code", f"a second threshold for {threshold.currency}")
            continue
        seen.add(threshold.currency)
        thresholds.append(threshold)
    return tuple(thresholds)


def update_merchant_settings(
    merchant_id: str, request: settings_svc.UpdateMerchantSettingsRequest
) -> MerchantSettingsUpdate:
    """Validate an UpdateMerchantSettingsRequest; an empty mask means every non-empty field."""
    v = ViolationCollector()
    fields.request_id(v, request.request_id)
    paths = fields.update_paths(
        v,
        request.update_mask.paths,
        {name: bool(getattr(request.settings, name)) for name in SETTINGS_FIELDS},
    )
    field = "settings.refund_review_thresholds"
    thresholds = _thresholds(v, field, request.settings.refund_review_thresholds)
    v.raise_if_any()
    return MerchantSettingsUpdate(
        merchant_id,
        refund_review_thresholds=thresholds if "refund_review_thresholds" in paths else None,
    )
