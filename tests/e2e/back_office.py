"""The back office in the refund review tests: its calls, held refunds, and what they left.

``BackOffice`` makes the admin's calls (settings and refund decisions) with a
given key; the ``admin`` and ``merchant_office`` fixtures (conftest.py) build
it with the back office's key and with the merchant's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg
from google.protobuf.field_mask_pb2 import FieldMask
from google.type import money_pb2

from paycore.v1 import merchant_settings_service_pb2 as settings_svc
from paycore.v1 import payment_pb2 as pb
from paycore.v1 import payment_service_pb2 as svc
from tests.support.api import Api
from tests.support.auth import Metadata
from tests.support.requests import build, usd


@dataclass(frozen=True)
class BackOffice:
    """The test merchant's admin: settings and refund decisions."""

    # Any: the generated stubs are typed for the blocking API, these are grpc.aio's.
    payments: Any
    settings: Any
    metadata: Metadata

    async def set_thresholds(self, *thresholds: money_pb2.Money) -> settings_svc.MerchantSettings:
        request = build(
            settings_svc.UpdateMerchantSettingsRequest,
            settings=settings_svc.MerchantSettings(refund_review_thresholds=thresholds),
            update_mask=FieldMask(paths=["refund_review_thresholds"]),
        )
        response = await self.settings.UpdateMerchantSettings(request, metadata=self.metadata)
        return response.settings

    async def approve(self, refund_id: str, **fields: Any) -> svc.ApproveRefundResponse:
        request = build(svc.ApproveRefundRequest, refund_id=refund_id, **fields)
        return await self.payments.ApproveRefund(request, metadata=self.metadata)

    async def reject(self, refund_id: str, **fields: Any) -> svc.RejectRefundResponse:
        request = build(svc.RejectRefundRequest, refund_id=refund_id, **fields)
        return await self.payments.RejectRefund(request, metadata=self.metadata)

    async def refunds(self, **fields: Any) -> svc.ListRefundsResponse:
        request = build(svc.ListRefundsRequest, **fields)
        return await self.payments.ListRefunds(request, metadata=self.metadata)


async def held(api: Api, admin: BackOffice, amount: int = 80) -> tuple[pb.Payment, pb.Refund]:
    """A captured payment of 100.00 USD with a refund of ``amount`` held for review."""
    await admin.set_thresholds(usd(50))
    payment = await api.captured(amount=usd(100))
    response = await api.refund(payment.id, usd(amount))
    assert response.refund.state == pb.Refund.STATE_PENDING_REVIEW
    return response.payment, response.refund


async def refund_attempts(db: asyncpg.Pool, merchant_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT refund_id, outcome FROM channel_attempts"
        " WHERE merchant_id = $1 AND operation = 'refund' ORDER BY create_time",
        merchant_id,
    )


async def audit_rows(db: asyncpg.Pool, resource_id: str) -> list[dict[str, Any]]:
    # Keys issued by the fixtures are audited too, by actor "system": not these tests' subject.
    rows = await db.fetch(
        "SELECT * FROM audit_events WHERE resource_id = $1 AND actor_role <> 'system' ORDER BY id",
        resource_id,
    )
    return [
        {
            **dict(row),
            "before": json.loads(row["before"]) if row["before"] else None,
            "after": json.loads(row["after"]) if row["after"] else None,
            "details": json.loads(row["details"]),
        }
        for row in rows
    ]
