"""The risk back office: dry-run scoring, the review queue, block and allow lists.

Every mutation (approve, reject, add or remove a list entry) is an
idempotent request through RequestExecutor, with its audit record written
in the same transaction as the change. Approving a held payment sends it
through PaymentService's own authorization path (``dispatch_reviewed``):
routing, the recorded attempt, the channel call and its commit are the ones
every payment goes through.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime

from core.domain import ids, lifecycle
from core.domain.audit import Actor, AuditRecord
from core.domain.cards import summarize
from core.domain.commands import CardInput
from core.domain.errors import NotFoundError, Reason
from core.domain.money import Money
from core.domain.payment import CardSummary, Payment, RiskContext
from core.domain.risk_records import ListEntry, ListName, QueuedReview, ReviewStatus
from core.gate import RequestGate, RpcClass
from core.ports.repository import PaymentTransaction, RequestKey
from core.risk.screen import RiskScreen
from core.service.card_vault import CardVault
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payment_changes import payment_change
from core.service.payments.authorize import settled_payment
from core.service.payments.service import PaymentService
from riskengine import Screening, Transaction

LIST_ENTRY = "rle"
"""Id prefix of block/allow list entries (``rle_`` + ULID)."""
_LIST_ENTRY_ID = re.compile(r"rle_[0-9A-HJKMNP-TV-Z]{26}")


def is_list_entry_id(value: str) -> bool:
    """Whether ``value`` has the shape of a list entry id."""
    return _LIST_ENTRY_ID.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class ScoreTransaction:
    """A dry run: score a payment that is not made."""

    merchant_id: str
    amount: Money
    card: CardInput | None
    card_token: str = ""
    customer_id: str = ""
    risk_context: RiskContext = dataclasses.field(default_factory=RiskContext)


@dataclass(frozen=True, slots=True)
class DecideReview:
    """Approve or reject one held payment."""

    merchant_id: str
    payment_id: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class AddListEntry:
    """Put a value on the merchant's block or allow list."""

    merchant_id: str
    list: ListName
    kind: str
    value: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RemoveListEntry:
    """Take an entry off the merchant's lists."""

    merchant_id: str
    entry_id: str


class RiskService:
    """ScoreTransaction, the review queue and the lists (see the module docstring)."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        gate: RequestGate,
        screen: RiskScreen,
        payments: PaymentService,
        vault: CardVault,
        fingerprint_key: str,
    ) -> None:
        self._executor = executor
        self._gate = gate
        self._screen = screen
        self._store = screen.store
        self._payments = payments
        self._vault = vault
        self._fingerprint_key = fingerprint_key

    # --- dry run ----------------------------------------------------------------

    async def score(self, command: ScoreTransaction) -> Screening:
        """Score without creating anything and without counting it in velocity."""
        await self._gate.admit(command.merchant_id, RpcClass.READS, None)
        card: CardSummary | None = None
        if command.card_token:
            card = (await self._vault.get_token(command.merchant_id, command.card_token)).card
        elif command.card is not None:
            card = summarize(command.card, self._fingerprint_key)
        context = command.risk_context
        transaction = Transaction(
            merchant_id=command.merchant_id,
            amount=command.amount,
            card=card,
            customer_id=command.customer_id,
            customer_email=context.customer_email,
            ip_address=context.ip_address,
            ip_country=context.ip_country,
            device_id=context.device_id,
            method="card_token" if command.card_token else "card",
        )
        return await self._screen.assess(transaction, "dry-run", write=False)

    # --- reviews ----------------------------------------------------------------

    async def list_reviews(
        self, merchant_id: str, after_payment_id: str, page_size: int
    ) -> tuple[list[QueuedReview], bool]:
        """Pending reviews, oldest first, and whether more follow."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        rows = await self._store.pending_reviews(merchant_id, after_payment_id, page_size + 1)
        return rows[:page_size], len(rows) > page_size

    async def approve_review(
        self,
        actor: Actor,
        command: DecideReview,
        request: RequestIdentity,
        encoder: Encoder[Payment],
    ) -> Reply:
        """Release a held payment to its channel (the normal authorization path)."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await self._held(tx, command)
            review = await self._store.lock_review(tx, command.merchant_id, payment.id)
            assert review is not None  # _held checked it
            card = None  # a bank transfer is held with no card
            if review.card_token:
                _, card = await self._vault.reveal(tx, command.merchant_id, review.card_token)
            await self._store.save_review(
                tx,
                dataclasses.replace(
                    review, status=ReviewStatus.APPROVED, note=command.note, decided_at=at
                ),
            )
            planned = await self._payments.dispatch_reviewed(tx, payment, card, at)
            assert planned.result is not None
            await self._audit(
                tx, actor, "risk_review.approve", payment, planned.result, command, at
            )
            return planned

        key = RequestKey(command.merchant_id, "ApproveReview", request.request_id)
        return await self._executor.execute(key, request, encoder, plan, settled_payment)

    async def reject_review(
        self,
        actor: Actor,
        command: DecideReview,
        request: RequestIdentity,
        encoder: Encoder[Payment],
    ) -> Reply:
        """Decline a held payment for good; it never reaches a channel."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await self._held(tx, command)
            review = await self._store.lock_review(tx, command.merchant_id, payment.id)
            assert review is not None
            rejected = lifecycle.reject_review(payment, command.note, at)
            await tx.payments.save(payment_change(payment, rejected))
            await self._store.save_review(
                tx,
                dataclasses.replace(
                    review, status=ReviewStatus.REJECTED, note=command.note, decided_at=at
                ),
            )
            await self._audit(tx, actor, "risk_review.reject", payment, rejected, command, at)
            return Plan(payment.id, result=rejected)

        key = RequestKey(command.merchant_id, "RejectReview", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def _held(self, tx: PaymentTransaction, command: DecideReview) -> Payment:
        payment = await tx.payments.lock(command.merchant_id, command.payment_id)
        if payment is None:
            raise NotFoundError(Reason.PAYMENT_NOT_FOUND, payment_id=command.payment_id)
        if await self._store.lock_review(tx, command.merchant_id, payment.id) is None:
            raise NotFoundError(Reason.REVIEW_NOT_FOUND, payment_id=payment.id)
        lifecycle.require(payment, "decide_review")
        return payment

    @staticmethod
    async def _audit(  # noqa: PLR0917
        tx: PaymentTransaction,
        actor: Actor,
        action: str,
        before: Payment,
        after: Payment,
        command: DecideReview,
        at: datetime,
    ) -> None:
        await tx.audit.record(
            AuditRecord(
                actor=actor,
                action=action,
                resource_type="payment",
                resource_id=before.id,
                merchant_id=before.merchant_id,
                at=at,
                before={"state": before.state.value},
                after={"state": after.state.value},
                details={"note": command.note},
            )
        )

    # --- lists ------------------------------------------------------------------

    async def add_entry(
        self,
        actor: Actor,
        command: AddListEntry,
        request: RequestIdentity,
        encoder: Encoder[ListEntry],
    ) -> Reply:
        """Add a block/allow list entry; it applies to the merchant's next payment."""
        entry_id = ids.new_id(LIST_ENTRY)

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[ListEntry]:
            entry = ListEntry(
                entry_id,
                command.merchant_id,
                command.list,
                command.kind,
                command.value,
                command.reason,
                at,
            )
            stored = await self._store.add_entry(tx, entry)
            existed = stored.id != entry_id
            await tx.audit.record(
                AuditRecord(
                    actor=actor,
                    action=f"risk_list.{command.list.value}.add",
                    resource_type="risk_list_entry",
                    resource_id=stored.id,
                    merchant_id=command.merchant_id,
                    at=at,
                    before=stored.snapshot() if existed else None,
                    after=stored.snapshot(),
                )
            )
            return Plan(stored.id, result=stored)

        key = RequestKey(command.merchant_id, "AddBlocklistEntry", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        await self._screen.lists_changed(command.merchant_id)
        return reply

    async def remove_entry(
        self,
        actor: Actor,
        command: RemoveListEntry,
        request: RequestIdentity,
        encoder: Encoder[ListEntry],
    ) -> Reply:
        """Remove a list entry; the merchant's next payment no longer sees it."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[ListEntry]:
            removed = await self._store.remove_entry(tx, command.merchant_id, command.entry_id)
            if removed is None:
                raise NotFoundError(Reason.RISK_LIST_ENTRY_NOT_FOUND, entry_id=command.entry_id)
            await tx.audit.record(
                AuditRecord(
                    actor=actor,
                    action=f"risk_list.{removed.list.value}.remove",
                    resource_type="risk_list_entry",
                    resource_id=removed.id,
                    merchant_id=command.merchant_id,
                    at=at,
                    before=removed.snapshot(),
                    after=None,
                )
            )
            return Plan(removed.id, result=removed)

        key = RequestKey(command.merchant_id, "RemoveBlocklistEntry", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        await self._screen.lists_changed(command.merchant_id)
        return reply

    async def list_entries(
        self, merchant_id: str, after_id: str, page_size: int
    ) -> tuple[list[ListEntry], bool]:
        """The merchant's entries, oldest first, and whether more follow."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        rows = await self._store.list_entries(merchant_id, after_id, page_size + 1)
        return rows[:page_size], len(rows) > page_size
