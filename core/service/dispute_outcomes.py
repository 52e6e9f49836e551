"""What follows a committed dispute change outside its transaction: the metric of disputes
opened and closed, and a lost dispute counted against its payer for the risk engine.

Both are best effort, like the decline counts of risk screening: a crash or an
unreachable store between the commit and here leaves a loss uncounted (and a
metric point missing); the dispute, its ledger and its ``dispute.closed`` event
are committed regardless.
"""

from __future__ import annotations

import logging

from core.domain.dispute_rate import metric_reason
from core.domain.dispute_status import DisputeStatus
from core.domain.disputes import Dispute
from core.ports.disputes import DisputeStore
from core.ports.telemetry import NO_INSTRUMENTS, Instruments
from riskengine import Transaction, VelocityStore

log = logging.getLogger(__name__)


class DisputeOutcomes:
    """Counts committed dispute changes: in metrics, and a loss in the velocity store."""

    def __init__(
        self,
        store: DisputeStore,
        velocity: VelocityStore | None = None,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        """``velocity``: where a lost dispute is counted (None: nowhere)."""
        self._store = store
        self._velocity = velocity
        self._instruments = instruments

    async def committed(self, before: Dispute | None, after: Dispute) -> None:
        """``before`` (None: new) became ``after`` and was committed.

        Opened and closed disputes are counted by kind, reason and outcome; a
        chargeback just lost counts against the payment's card, customer and
        the stored customer's email (risk features ``<entity>_lost_disputes``).
        """
        reason = metric_reason(after.reason)
        if before is None:
            self._instruments.dispute_changed(after.kind.value, reason, "opened")
        closed = after.status.is_final and (before is None or not before.status.is_final)
        if closed:
            self._instruments.dispute_changed(after.kind.value, reason, after.status.value)
        if closed and after.status is DisputeStatus.LOST and self._velocity is not None:
            await self._count_loss(self._velocity, after)

    async def _count_loss(self, velocity: VelocityStore, dispute: Dispute) -> None:
        try:
            payer = await self._store.payer_of(dispute.merchant_id, dispute.payment_id)
            if payer is None:
                return
            transaction = Transaction(
                dispute.merchant_id,
                payer.amount,
                payer.card,
                payer.customer_id,
                customer_email=payer.email,
            )
            await velocity.record_lost_dispute(transaction, dispute.id)
        except Exception:
            log.exception("lost dispute %s not counted for the risk engine", dispute.id)
