"""Disputes: a channel's notices open and decide them; the merchant answers or accepts.

Every change is one transaction that stores the dispute, posts what it moved
(core/ledger/disputes.py) and appends its events (``dispute_events``), all
computed here and only stored by the DisputeStore. The payment's row lock
(taken first) serializes a payment's disputes with its refunds: a dispute is
capped at what is still disputable, and a refund is refused while a dispute
is open or lost (``DisputedRefunds``), so refunds and disputes together never
exceed the capture.

Merchant mutations (SubmitEvidence, AcceptDispute) run in the request engine
(core/service/execution.py): once per request_id, their reply stored with
the change.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from datetime import datetime

from core.domain import clock as wall_clock
from core.domain import disputes, ids
from core.domain.dispute_rate import DisputeRate
from core.domain.dispute_status import DisputeStatus
from core.domain.disputes import (
    ChannelVerdict,
    Dispute,
    DisputeKind,
    DisputeNotice,
    Evidence,
)
from core.domain.errors import NotFoundError, PaycoreError, Reason
from core.domain.money import Money
from core.domain.payment import Payment
from core.gate import RequestGate, RpcClass
from core.ledger.disputes import postings_for_dispute
from core.ports.disputes import DisputeQuery, DisputeStore
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.service.dispute_outcomes import DisputeOutcomes
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.vault.secrets import SecretSealer
from router import Router
from router.channel import DisputeAnswering

log = logging.getLogger(__name__)


class NoticeOutcome(enum.Enum):
    """What a channel's dispute notice did (recorded with the notice)."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    """A repeat, or news of a dispute already decided: acknowledged, nothing changed."""
    IGNORED = "ignored"
    """Nothing left to dispute (the payment was refunded, or never captured)."""
    UNKNOWN_PAYMENT = "unknown_payment"


class DisputedRefunds:
    """The refund guard: refuses refunding a payment with an open or lost dispute."""

    def __init__(self, store: DisputeStore) -> None:
        self._store = store

    async def check_refundable(
        self, tx: PaymentTransaction, merchant_id: str, payment_id: str
    ) -> None:
        """Raise PAYMENT_DISPUTED if a dispute holds the payment (call with the payment locked)."""
        blocker = disputes.refund_blocker(await self._store.of_payment(tx, merchant_id, payment_id))
        if blocker is not None:
            raise PaycoreError(
                Reason.PAYMENT_DISPUTED,
                payment_id=payment_id,
                dispute_id=blocker.id,
                state=blocker.status.name,
            )


class DisputeService:
    """The dispute use cases: channel notices, reads, evidence, acceptance."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        repository: PaymentRepository,
        store: DisputeStore,
        gate: RequestGate,
        sealer: SecretSealer,
        dispute_fee_minor: int,
        router: Router,
        channel_timeout_s: float = 10.0,
        outcomes: DisputeOutcomes | None = None,
    ) -> None:
        """``channel_timeout_s`` bounds handing evidence to a channel (as the router's calls);
        ``outcomes`` counts each committed change (metrics, lost disputes for risk)."""
        self._executor = executor
        self._repository = repository
        self._store = store
        self._gate = gate
        self._sealer = sealer
        self._fee_minor = dispute_fee_minor
        self._router = router  # the channels, which take the merchant's evidence
        self._channel_timeout_s = channel_timeout_s
        self._outcomes = outcomes or DisputeOutcomes(store)

    # --- from the channel -----------------------------------------------------

    async def apply_notice(
        self, channel: str, merchant_id: str, payment_id: str, notice: DisputeNotice, at: datetime
    ) -> NoticeOutcome:
        """Open, escalate or decide the dispute ``notice`` is about (idempotent, order-safe).

        A verdict about a dispute paycore has not seen opened (the opening
        notice is late) opens it and decides it at once.
        """
        async with self._repository.transaction() as tx:
            payment = await tx.payments.lock(merchant_id, payment_id)
            if payment is None:
                return NoticeOutcome.UNKNOWN_PAYMENT
            known = await self._store.of_payment(tx, merchant_id, payment_id)
            before = await self._store.find(tx, merchant_id, channel, notice.reference)
            if before is None:
                after = self._new_dispute(payment, known, channel, notice, at)
            elif before.payment_id != payment_id:
                # The channel named its dispute of another charge: nothing to apply here.
                log.error(
                    "dispute notice %s on %s names dispute %s of payment %s, not %s: ignored",
                    notice.event_id,
                    channel,
                    before.id,
                    before.payment_id,
                    payment_id,
                )
                after = None
            else:
                after = self._changed(before, notice, at)
            if after is None:
                outcome = NoticeOutcome.UNCHANGED if before else NoticeOutcome.IGNORED
            else:
                outcome = NoticeOutcome.APPLIED
                if before is None:
                    await self._store.insert(tx, after)
                else:
                    await self._store.save(tx, after)
                await self._record(tx, before, after, at)
            await self._store.record_notice(
                tx,
                channel=channel,
                event_id=notice.event_id,
                dispute=after or before,
                payment_id=payment_id,
                outcome=outcome.value,
                at=at,
            )
        if after is not None:
            await self._outcomes.committed(before, after)
        return outcome

    def _new_dispute(
        self,
        payment: Payment,
        known: list[Dispute],
        channel: str,
        notice: DisputeNotice,
        at: datetime,
    ) -> Dispute | None:
        """The dispute a first notice opens (decided at once if it is a verdict); None if
        nothing is left to dispute: a warning is logged and the notice ignored."""
        left = disputes.disputable(payment, known)
        amount = min(notice.amount.amount, left.amount)
        if notice.amount.currency != payment.currency or amount <= 0:
            log.warning(
                "dispute notice %s on %s for payment %s ignored: %s disputable, %s claimed",
                notice.event_id,
                channel,
                payment.id,
                left,
                notice.amount,
            )
            return None
        opened = self._opened(payment, channel, notice, amount, at)
        return disputes.decide(opened, notice.verdict, at) or opened

    def _fee(self, kind: DisputeKind, currency: str) -> Money:
        return Money(self._fee_minor if kind is DisputeKind.CHARGEBACK else 0, currency)

    def _opened(
        self, payment: Payment, channel: str, notice: DisputeNotice, amount: int, at: datetime
    ) -> Dispute:
        currency = notice.amount.currency
        return Dispute(
            id=ids.new_id(ids.DISPUTE),
            merchant_id=payment.merchant_id,
            payment_id=payment.id,
            channel=channel,
            channel_reference=notice.reference,
            amount=Money(amount, currency),
            fee=self._fee(notice.kind, currency),
            kind=notice.kind,
            status=DisputeStatus.NEEDS_RESPONSE,
            reason=notice.reason,
            evidence_due_at=notice.evidence_due_at,
            created_at=at,
            updated_at=at,
        )

    def _changed(self, before: Dispute, notice: DisputeNotice, at: datetime) -> Dispute | None:
        """``before`` after the notice; None when it changes nothing."""
        current = before
        if notice.kind is DisputeKind.CHARGEBACK:
            fee = self._fee(DisputeKind.CHARGEBACK, before.amount.currency)
            current = disputes.escalate(current, fee, notice.evidence_due_at, at) or current
        if notice.verdict is not ChannelVerdict.OPENED:
            current = disputes.decide(current, notice.verdict, at) or current
        return None if current is before else current

    async def _record(
        self, tx: PaymentTransaction, before: Dispute | None, after: Dispute, at: datetime
    ) -> None:
        """Post what ``before`` -> ``after`` moved and append its events."""
        await self._store.post(tx, postings_for_dispute(before, after), at)
        await self._store.announce(tx, after, disputes.dispute_events(before, after))

    # --- reads ------------------------------------------------------------------

    async def get_dispute(self, merchant_id: str, dispute_id: str) -> Dispute:
        """One dispute; NOT_FOUND for unknown and other merchants' disputes."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        dispute = await self._store.get(merchant_id, dispute_id)
        if dispute is None:
            raise NotFoundError(Reason.DISPUTE_NOT_FOUND, dispute_id=dispute_id)
        return dispute

    async def list_disputes(self, query: DisputeQuery) -> tuple[list[Dispute], bool]:
        """A page of disputes, newest first, and whether more follow."""
        await self._gate.admit(query.merchant_id, RpcClass.READS, None)
        asked = DisputeQuery(
            query.merchant_id, query.page_size + 1, query.payment_id, query.statuses, query.after
        )
        rows = await self._store.list(asked)
        return rows[: query.page_size], len(rows) > query.page_size

    async def dispute_rate(self, merchant_id: str, start: datetime, end: datetime) -> DisputeRate:
        """The merchant's chargebacks per captured payment within [start, end)."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        return await self._store.dispute_rate(merchant_id, start, end)

    # --- the merchant's answers ---------------------------------------------------

    async def submit_evidence(
        self,
        merchant_id: str,
        dispute_id: str,
        evidence: Evidence,
        request: RequestIdentity,
        encoder: Encoder[Dispute],
    ) -> Reply:
        """Store the evidence sealed (NEEDS_RESPONSE -> UNDER_REVIEW), then hand it to the channel.

        The channel is called after the commit, with no transaction open, by
        the call that made the change (a replay of the request_id does not
        send again). If the channel cannot take it, the reply is still the
        committed change: the evidence is kept, the failure logged, and the
        dispute waits UNDER_REVIEW (sending it again is not automated yet).
        """
        sealed = self._sealer.seal(_evidence_text(evidence), dispute_id)
        submitted: list[Dispute] = []

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Dispute]:
            before = await self._locked(tx, merchant_id, dispute_id)
            after = disputes.submit_evidence(before, at)
            await self._store.save(tx, after)
            await self._store.save_evidence(tx, after, sealed, at)
            await self._record(tx, before, after, at)
            submitted.append(after)
            return Plan(dispute_id, result=after)

        key = RequestKey(merchant_id, "SubmitEvidence", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        if reply.ok and submitted:
            await self._send_evidence(submitted[-1], evidence)
        return reply

    async def _send_evidence(self, dispute: Dispute, evidence: Evidence) -> None:
        """Hand the evidence to the dispute's channel; on success remember it was taken.

        A failure is logged and the evidence stays unsent: the dispute job
        (``resend_evidence``) tries again. The channel knows the evidence by
        its dispute id, so a second delivery of the same evidence is harmless.
        """
        if dispute.channel not in self._router.channel_names:
            log.warning("evidence of %s kept: channel %s is gone", dispute.id, dispute.channel)
            return
        channel = self._router.channel(dispute.channel)
        try:
            if isinstance(channel, DisputeAnswering):  # others decide without evidence
                async with asyncio.timeout(self._channel_timeout_s):
                    await channel.send_dispute_evidence(dispute.channel_reference, evidence)
            await self._store.mark_evidence_sent(dispute, wall_clock.now())
        except Exception:
            # After the commit: the reply stands whatever happens here.
            log.exception(
                "evidence of dispute %s not known to be taken by %s: sent again later",
                dispute.id,
                dispute.channel,
            )

    async def resend_evidence(self, stored_before: datetime, batch_size: int) -> int:
        """Send again the evidence a channel did not take (stored before ``stored_before``)."""
        unsent = await self._store.unsent_evidence(stored_before, batch_size)
        for dispute, sealed in unsent:
            fields = json.loads(self._sealer.open(sealed, dispute.id))
            await self._send_evidence(dispute, disputes.evidence_from_fields(fields))
        return len(unsent)

    async def accept_dispute(
        self,
        merchant_id: str,
        dispute_id: str,
        request: RequestIdentity,
        encoder: Encoder[Dispute],
    ) -> Reply:
        """Give in: NEEDS_RESPONSE -> LOST (an inquiry: CLOSED); the amount stays withdrawn."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Dispute]:
            before = await self._locked(tx, merchant_id, dispute_id)
            after = disputes.accept(before, at)
            await self._store.save(tx, after)
            await self._record(tx, before, after, at)
            accepted.append((before, after))
            return Plan(dispute_id, result=after)

        accepted: list[tuple[Dispute, Dispute]] = []
        key = RequestKey(merchant_id, "AcceptDispute", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        if reply.ok and accepted:
            await self._outcomes.committed(*accepted[-1])
        return reply

    # --- the evidence due date -------------------------------------------------------

    async def expire_overdue(self, now: datetime, batch_size: int) -> int:
        """Close up to ``batch_size`` unanswered disputes past their due date; returns how many.

        A chargeback is lost, an inquiry closed. One transaction per dispute,
        which locks it SKIP LOCKED: workers of several processes take
        different disputes, a worker that dies rolls its one back (due again
        next round), and the locks follow the order of every other dispute
        change (dispute, accounts, the merchant's event sequence), one
        merchant at a time, so the job never deadlocks with group commits.
        """
        closed = 0
        while closed < batch_size:
            async with self._repository.transaction() as tx:
                overdue = await self._store.lock_overdue(tx, now, 1)
                if not overdue:
                    break
                (before,) = overdue
                after = disputes.expire(before, now)
                if after is None:  # the query and the rule disagree: a bug, not a loop
                    raise ValueError(f"dispute {before.id} is not overdue at {now}")
                await self._store.save(tx, after)
                await self._record(tx, before, after, now)
            log.info(
                "dispute %s closed %s: due %s", after.id, after.status.value, before.evidence_due_at
            )
            await self._outcomes.committed(before, after)
            closed += 1
        return closed

    async def _locked(self, tx: PaymentTransaction, merchant_id: str, dispute_id: str) -> Dispute:
        dispute = await self._store.lock(tx, merchant_id, dispute_id)
        if dispute is None:
            raise NotFoundError(Reason.DISPUTE_NOT_FOUND, dispute_id=dispute_id)
        return dispute


def _evidence_text(evidence: Evidence) -> str:
    """The evidence as the JSON text that is sealed."""
    return json.dumps(disputes.evidence_fields(evidence), separators=(",", ":"))
