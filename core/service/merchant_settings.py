"""Merchant settings: read by anyone of the merchant's back office, changed by its admins.

Updates run through the RequestExecutor like every mutation (idempotent per
request_id, reply stored with the change) and append an audit record with the
settings before and after in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from core.domain.audit import Actor, AuditRecord
from core.domain.merchant_settings import MerchantSettings, MerchantSettingsUpdate
from core.gate import RequestGate, RpcClass
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity


class MerchantSettingsService:
    """GetMerchantSettings and UpdateMerchantSettings."""

    def __init__(
        self, *, executor: RequestExecutor, repository: PaymentRepository, gate: RequestGate
    ) -> None:
        self._executor = executor
        self._repo = repository
        self._gate = gate

    async def get_settings(self, merchant_id: str) -> MerchantSettings:
        """The merchant's settings (the defaults when never changed)."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        return await self._repo.get_merchant_settings(merchant_id)

    async def update_settings(
        self,
        update: MerchantSettingsUpdate,
        actor: Actor,
        request: RequestIdentity,
        encoder: Encoder[MerchantSettings],
    ) -> Reply:
        """Replace the fields ``update`` names; audited with before and after."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[MerchantSettings]:
            before = await tx.merchants.lock_settings(update.merchant_id)
            after = update.apply(before, at)
            await tx.merchants.save_settings(after)
            await tx.audit.record(
                AuditRecord(
                    actor=actor,
                    action="merchant_settings.update",
                    resource_type="merchant_settings",
                    resource_id=update.merchant_id,
                    merchant_id=update.merchant_id,
                    at=at,
                    before=before.snapshot(),
                    after=after.snapshot(),
                    details={"request_id": request.request_id},
                )
            )
            return Plan("", result=after)  # no payment to name on the span

        key = RequestKey(update.merchant_id, "UpdateMerchantSettings", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)
