"""Settlement: the daily job and the back-office RPCs over core/ledger/settlement.py.

Only a closed business day is settled: one that has ended in the settlement
time zone (UTC) and whose cut-off grace (``ledger.settlement_grace_s``) has
passed, by the clock the service is given (tests pass one they control).
Settling an open day would file its captures so far under a report that
later ones can no longer join, and make money available early.

The job (``run_due`` / ``watch``) settles every closed day that has unsettled
captures or refunds of its own, for every merchant and currency, each in its
own transaction (and the last closed day for items carried over from days
settled already). Every worker may run it: the settlement row's unique key
(merchant, currency, day) lets exactly one transaction settle a day; the
others find its row and move on (core/storage/ledger_settlements.py ``settle``).

RunSettlement (admin) settles one closed day on demand (an open or future one
is FAILED_PRECONDITION BUSINESS_DAY_NOT_CLOSED, not remembered against the
request_id, so the same request succeeds once the day is over), through the
RequestExecutor (idempotent by request_id) with an audit record in the same
transaction.
SetFeeRules (superadmin) replaces a merchant's fee rules the same way; each
settlement reads the rules in force when it runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from core.domain.audit import Actor, AuditRecord
from core.domain.errors import NotFoundError, PaycoreError, Reason
from core.gate import RequestGate, RpcClass
from core.ledger.commands import SetFeeRules
from core.ledger.fees import FeeRule, FeeSchedule
from core.ledger.records import SettlementRecord
from core.ledger.settlement import (
    SETTLEMENT_TIME_ZONE,
    SettlementDay,
    day_end,
    is_closed,
    last_closed_day,
)
from core.ports.repository import PaymentTransaction, RequestKey
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity

log = logging.getLogger(__name__)


class SettlementStore(Protocol):
    """Settlement storage (core/storage/ledger_store.py)."""

    async def settle(
        self, tx: PaymentTransaction, day: SettlementDay, fee: FeeRule, at: datetime
    ) -> SettlementRecord:
        """Settle ``day`` inside ``tx`` (or return the settlement already made)."""
        ...

    async def settle_alone(
        self, day: SettlementDay, fee: FeeRule, at: datetime
    ) -> SettlementRecord:
        """Settle ``day`` in a transaction of its own."""
        ...

    async def settlement(self, day: SettlementDay) -> SettlementRecord | None:
        """The stored settlement of ``day``."""
        ...

    async def due_settlements(self, last_closed: date) -> list[SettlementDay]:
        """The days with unsettled items up to ``last_closed`` that have no settlement yet."""
        ...

    async def fee_rules(self, merchant_id: str) -> dict[str, FeeRule]:
        """The merchant's own fee rules, by method."""
        ...

    async def replace_fee_rules(
        self, tx: PaymentTransaction, merchant_id: str, rules: dict[str, FeeRule]
    ) -> dict[str, FeeRule]:
        """Replace the merchant's fee rules inside ``tx``; returns the previous ones."""
        ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _rules_snapshot(rules: Mapping[str, FeeRule]) -> dict[str, object]:
    return {
        method: {"bps": rule.bps, "fixed_minor": rule.fixed_minor}
        for method, rule in sorted(rules.items())
    }


def _snapshot(record: SettlementRecord) -> dict[str, object]:
    figures = record.figures
    return {
        "settlement_id": record.id,
        "currency": figures.currency,
        "business_date": figures.business_date.isoformat(),
        "captured": figures.captured,
        "refunded": figures.refunded,
        "fees": figures.fees,
        "net": figures.net,
        "settled": record.settled,
        "journal_id": record.journal_id,
    }


class SettlementService:
    """RunSettlement, GetSettlementReport, and the daily job."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        store: SettlementStore,
        gate: RequestGate,
        default_fee: FeeRule,
        grace: timedelta,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._executor = executor
        self._store = store
        self._gate = gate
        self._fee = default_fee
        self._grace = grace
        self._clock = clock

    def _require_closed(self, day: SettlementDay) -> None:
        """FAILED_PRECONDITION unless ``day`` is over (ended, and the grace has passed)."""
        business_date = day.business_date
        if not is_closed(business_date, self._clock(), self._grace):
            raise PaycoreError(
                Reason.BUSINESS_DAY_NOT_CLOSED,
                business_date=business_date.isoformat(),
                settleable_from=(day_end(business_date) + self._grace).isoformat(),
                time_zone=str(SETTLEMENT_TIME_ZONE),
                grace_s=int(self._grace.total_seconds()),
            )

    async def run(
        self,
        day: SettlementDay,
        actor: Actor,
        request: RequestIdentity,
        encoder: Encoder[SettlementRecord],
    ) -> Reply:
        """Settle one closed day now (or answer the settlement already made), audited."""
        self._require_closed(day)

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[SettlementRecord]:
            record = await self._store.settle(tx, day, self._fee, at)
            await tx.audit.record(
                AuditRecord(
                    actor=actor,
                    action="settlement.run",
                    resource_type="settlement",
                    resource_id=record.id,
                    merchant_id=day.merchant_id,
                    at=at,
                    before={},
                    after=_snapshot(record),
                    details={"request_id": request.request_id},
                )
            )
            return Plan(record.id, result=record)

        key = RequestKey(day.merchant_id, "RunSettlement", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def report(self, day: SettlementDay) -> SettlementRecord:
        """The settlement of ``day``; NOT_FOUND (SETTLEMENT_NOT_FOUND) when none was run."""
        await self._gate.admit(day.merchant_id, RpcClass.READS, None)
        record = await self._store.settlement(day)
        if record is None:
            raise NotFoundError(
                Reason.SETTLEMENT_NOT_FOUND,
                currency=day.currency,
                business_date=day.business_date.isoformat(),
            )
        return record

    async def set_fee_rules(
        self,
        command: SetFeeRules,
        actor: Actor,
        request: RequestIdentity,
        encoder: Encoder[FeeSchedule],
    ) -> Reply:
        """Replace the merchant's fee rules (settlements from now on charge them), audited."""
        rules = {r.method: FeeRule(r.bps, r.fixed_minor) for r in command.rules}

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[FeeSchedule]:
            before = await self._store.replace_fee_rules(tx, command.merchant_id, rules)
            await tx.audit.record(
                AuditRecord(
                    actor=actor,
                    action="fee_rules.set",
                    resource_type="fee_rules",
                    resource_id=command.merchant_id,
                    merchant_id=command.merchant_id,
                    at=at,
                    before=_rules_snapshot(before),
                    after=_rules_snapshot(rules),
                    details={"request_id": request.request_id},
                )
            )
            return Plan(command.merchant_id, result=FeeSchedule(self._fee, rules))

        key = RequestKey(command.merchant_id, "SetFeeRules", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def fee_schedule(self, merchant_id: str) -> FeeSchedule:
        """The merchant's fee schedule: its own rules over the platform default."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        return FeeSchedule(self._fee, await self._store.fee_rules(merchant_id))

    async def run_due(self) -> int:
        """Settle every closed day that is due, oldest first; returns how many were due."""
        now = self._clock()
        due = await self._store.due_settlements(last_closed_day(now, self._grace))
        for day in due:
            # One transaction per merchant, currency and day: a failure (or a
            # crash) leaves the others settled and this one for the next poll.
            try:
                await self._store.settle_alone(day, self._fee, now)
            except Exception:
                log.exception("settlement of %s failed; retried at the next poll", day)
        return len(due)

    async def watch(self, interval_s: float) -> None:
        """Run ``run_due`` every ``interval_s`` seconds until cancelled."""
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("settlement job failed; retried at the next poll")
            await asyncio.sleep(interval_s)
