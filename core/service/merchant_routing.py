"""Merchants' own routing chains: set by their admins, used by every paycore process.

A change runs through the RequestExecutor like every mutation (idempotent per
request_id, reply stored with the change) and is audited with the chain
before and after in the same transaction. The routing file stays the
default: a merchant without a chain of its own routes by it.

How a change reaches the routers: the process that made it reloads at once
(after the commit); every process also reloads all chains every
``routing_refresh_s`` (``watch``), so a change applies everywhere within that
bound. Payments already routed keep their decision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.domain.audit import Actor, AuditRecord
from core.domain.merchant_routing import MerchantRouting
from core.gate import RequestGate, RpcClass
from core.ports.repository import PaymentTransaction, RequestKey
from core.ports.routing import RoutingStore
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from router import Router
from router.config import RoutingConfigError, parse_chain
from router.routing import Strategy

log = logging.getLogger(__name__)


class MerchantRoutingService:
    """GetMerchantRouting and SetMerchantRouting, and keeping the router up to date."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        store: RoutingStore,
        gate: RequestGate,
        router: Router,
    ) -> None:
        self._executor = executor
        self._store = store
        self._gate = gate
        self._router = router
        self._ignored: set[str] = set()

    @property
    def channels(self) -> frozenset[str]:
        """The channels a chain may name (this process's router's)."""
        return frozenset(self._router.channel_names)

    def check(self, chain: Mapping[str, Any], where: str = "chain") -> tuple[Strategy, ...]:
        """The strategies of ``chain``; RoutingConfigError naming the offending field."""
        return parse_chain(chain, where, self.channels)

    async def get_routing(self, merchant_id: str) -> MerchantRouting:
        """The merchant's routing (no chain of its own when never set)."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        return await self._store.get(merchant_id)

    async def set_routing(
        self,
        merchant_id: str,
        chain: Mapping[str, Any] | None,
        actor: Actor,
        request: RequestIdentity,
        encoder: Encoder[MerchantRouting],
    ) -> Reply:
        """Set the merchant's chain (checked by ``check`` first), or None for the file's."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[MerchantRouting]:
            before = await self._store.lock(tx, merchant_id)
            after = MerchantRouting(merchant_id, chain, at)
            await self._store.save(tx, after)
            await tx.audit.record(
                AuditRecord(
                    actor=actor,
                    action="merchant_routing.set",
                    resource_type="merchant_routing",
                    resource_id=merchant_id,
                    merchant_id=merchant_id,
                    at=at,
                    before=before.snapshot(),
                    after=after.snapshot(),
                    details={"request_id": request.request_id},
                )
            )
            return Plan("", result=after)

        key = RequestKey(merchant_id, "SetMerchantRouting", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        try:
            await self.refresh()  # this process routes by the change at once
        except Exception:
            # Committed all the same: ``watch`` picks it up on its next round.
            log.exception("reloading routing chains after a change failed")
        return reply

    async def refresh(self) -> None:
        """Load every merchant's own chain into the router."""
        chains: dict[str, tuple[Strategy, ...]] = {}
        for merchant_id, raw in (await self._store.custom_chains()).items():
            try:
                chains[merchant_id] = self.check(raw, f"merchant_routing.{merchant_id}")
            except RoutingConfigError as error:
                # Stored when valid; a channel removed from this process's
                # configuration since makes it unusable here: the file's applies.
                # Said once per problem, not on every reload.
                if str(error) not in self._ignored:
                    self._ignored.add(str(error))
                    log.error("routing chain of %s ignored: %s", merchant_id, error)
        self._router.use_merchant_chains(chains)

    async def watch(self, interval_s: float) -> None:
        """Reload every ``interval_s`` seconds, forever (a background task of each process)."""
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception("reloading merchants' routing chains failed; retrying")
            await asyncio.sleep(interval_s)
