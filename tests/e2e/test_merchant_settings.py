"""A merchant's settings (refund review thresholds): defaults, updates, replays, validation.

Callers as in test_refund_review.py: only through the ``metadata`` / ``admin_metadata``
fixtures.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from paycore.v1 import merchant_settings_service_pb2 as settings_svc
from tests.support.expect import expect_invalid
from tests.support.requests import build, money, usd, wire

from .back_office import BackOffice, audit_rows


async def test_settings_default_to_no_thresholds_and_round_trip(
    admin: BackOffice, db: asyncpg.Pool, merchant_id: str
) -> None:
    get = settings_svc.GetMerchantSettingsRequest()
    default = (await admin.settings.GetMerchantSettings(get, metadata=admin.metadata)).settings
    assert list(default.refund_review_thresholds) == []
    assert not default.HasField("update_time")

    updated = await admin.set_thresholds(usd(50), money(0, currency="EUR"))
    shown = (await admin.settings.GetMerchantSettings(get, metadata=admin.metadata)).settings
    assert wire(shown) == wire(updated)
    assert list(shown.refund_review_thresholds) == [usd(50), money(0, currency="EUR")]
    assert shown.HasField("update_time")

    cleared = await admin.set_thresholds()
    assert list(cleared.refund_review_thresholds) == []

    first, second = await audit_rows(db, merchant_id)
    assert first["action"] == "merchant_settings.update"
    assert first["before"] == {"refund_review_thresholds": []}
    assert first["after"] == {
        "refund_review_thresholds": [
            {"currency": "USD", "amount_minor": 5000},
            {"currency": "EUR", "amount_minor": 0},
        ]
    }
    assert second["before"] == first["after"]
    assert second["after"] == {"refund_review_thresholds": []}


async def test_a_repeated_settings_update_replays_and_audits_once(
    admin: BackOffice, db: asyncpg.Pool, merchant_id: str
) -> None:
    request = build(
        settings_svc.UpdateMerchantSettingsRequest,
        settings=settings_svc.MerchantSettings(refund_review_thresholds=[usd(10)]),
    )
    first = await admin.settings.UpdateMerchantSettings(request, metadata=admin.metadata)
    second = await admin.settings.UpdateMerchantSettings(request, metadata=admin.metadata)
    assert wire(first) == wire(second)
    assert len(await audit_rows(db, merchant_id)) == 1


INVALID_SETTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "unknown currency": (
        {
            "settings": settings_svc.MerchantSettings(
                refund_review_thresholds=[money(1, currency="XYZ")]
            )
        },
        "settings.refund_review_thresholds[0].currency_code",
    ),
    "negative amount": (
        {"settings": settings_svc.MerchantSettings(refund_review_thresholds=[money(-1)])},
        "settings.refund_review_thresholds[0]",
    ),
    "two thresholds for one currency": (
        {"settings": settings_svc.MerchantSettings(refund_review_thresholds=[usd(1), usd(2)])},
        "settings.refund_review_thresholds[1].currency_code",
    ),
    "unknown mask path": ({"update_mask": FieldMask(paths=["fees"])}, "update_mask"),
    "nothing to update": ({}, "update_mask"),
    "no request_id": (
        {"request_id": "", "update_mask": FieldMask(paths=["refund_review_thresholds"])},
        "request_id",
    ),
}


@pytest.mark.parametrize(("fields", "violation"), INVALID_SETTINGS.values(), ids=INVALID_SETTINGS)
async def test_invalid_settings_are_refused_with_field_violations(
    admin: BackOffice, db: asyncpg.Pool, merchant_id: str, fields: dict[str, Any], violation: str
) -> None:
    request = build(settings_svc.UpdateMerchantSettingsRequest, **fields)
    await expect_invalid(
        admin.settings.UpdateMerchantSettings(request, metadata=admin.metadata), violation
    )
    assert await audit_rows(db, merchant_id) == []
