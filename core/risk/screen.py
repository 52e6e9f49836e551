"""Risk screening of a payment: velocity (Redis) + lists (PostgreSQL, cached) + rules.

``RiskScreen.assess`` is what PaymentService calls before a payment may be
routed: one Redis round trip reads and updates the velocity counters (and
returns the merchant's list version), the merchant's block/allow lists come
from an in-process cache that is reloaded when that version moves, and the
engine's pure screening (``riskengine.screen``) decides. ``hold`` queues a
payment the engine sent to REVIEW; ``note_outcome`` counts declines for
card-testing rules, off the reply path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from core.domain.commands import CardInput
from core.domain.money import Money
from core.domain.payment import Payment, PaymentState
from core.domain.risk_records import Review, ReviewStatus
from core.ports.repository import PaymentTransaction
from core.ports.risk import RidingVelocityStore, RiskStore
from core.vault.records import CardToken
from riskengine import (
    MerchantLists,
    RiskEngine,
    Screening,
    ScreeningConfig,
    Transaction,
    VelocityRead,
    merge_lists,
    refund_needs_a_look,
    screen,
    static_lists,
)

# Screening is the engine's; named here too for the payment use cases that import it from here.
__all__ = ["CardKeeper", "RiskScreen", "Screening"]

log = logging.getLogger(__name__)

LIST_CACHE_TTL_S = 60.0
"""How long cached lists are trusted while Redis confirms their version."""
LIST_CACHE_TTL_BLIND_S = 2.0
"""How long they are trusted while Redis is away (no version to compare)."""
_MAX_CACHED_MERCHANTS = 10_000


class CardKeeper(Protocol):
    """Seals a held payment's card in the vault (``core.service.card_vault.CardVault``)."""

    async def keep(
        self, tx: PaymentTransaction, merchant_id: str, card: CardInput, at: datetime
    ) -> CardToken:
        """Store ``card`` under a new token, in ``tx``."""
        ...


class RiskScreen:
    """Scores payments; holds the ones sent to review."""

    def __init__(
        self,
        *,
        engine: RiskEngine,
        velocity: RidingVelocityStore,
        store: RiskStore,
        vault: CardKeeper,
        settings: ScreeningConfig,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.velocity = velocity
        self.store = store
        self._vault = vault
        self._settings = settings
        self._static = static_lists(settings)
        self._monotonic = monotonic
        self._lists: dict[str, tuple[int | None, float, MerchantLists]] = {}
        self._background: set[asyncio.Task[None]] = set()

    def flags_refund(self, payment: Payment, amount: Money) -> bool:
        """RefundRiskCheck: refunds on payments the risk engine doubted wait for review."""
        return refund_needs_a_look(payment, self.engine.rules.review_threshold)

    async def assess(
        self,
        transaction: Transaction,
        member: str,
        *,
        write: bool = True,
        now_ms: int | None = None,
        tx: PaymentTransaction | None = None,
        counted: VelocityRead | None = None,
    ) -> Screening:
        """Score ``transaction``; ``write`` False is a dry run (velocity read, not counted).

        ``counted``: the velocity already read and counted for it (a gate rider).
        """
        read = counted or await self.velocity.read_and_count(
            transaction, member, write=write, now_ms=now_ms
        )
        lists = await self.lists_for(transaction.merchant_id, read.list_version, tx)
        screening = screen(self.engine, self._settings, transaction, read.velocity, lists)
        if screening.verdict.shadow:
            log.info(
                "risk shadow rules fired for %s: %s (live decision %s)",
                member,
                ",".join(screening.verdict.shadow),
                screening.verdict.assessment.decision.name,
            )
        return screening

    async def lists_for(
        self, merchant_id: str, version: int | None, tx: PaymentTransaction | None = None
    ) -> MerchantLists:
        """The merchant's lists (with the configured ones), reloaded when ``version`` moved."""
        now = self._monotonic()
        cached = self._lists.get(merchant_id)
        if cached is not None:
            cached_version, loaded, lists = cached
            if version is not None and cached_version == version:
                if now - loaded < LIST_CACHE_TTL_S:
                    return lists
            elif version is None and now - loaded < LIST_CACHE_TTL_BLIND_S:
                return lists
        lists = merge_lists(self._static, await self.store.merchant_lists(merchant_id, tx))
        if len(self._lists) >= _MAX_CACHED_MERCHANTS:
            self._lists.clear()
        self._lists[merchant_id] = (version, now, lists)
        return lists

    async def lists_changed(self, merchant_id: str) -> None:
        """A list entry was added or removed (and committed): reload everywhere."""
        self._lists.pop(merchant_id, None)
        await self.velocity.bump_list_version(merchant_id)

    async def hold(
        self,
        tx: PaymentTransaction,
        payment: Payment,
        card: CardInput | None,
        card_token: str,
        at: datetime,
    ) -> None:
        """Queue a payment held for review, keeping its card (if any) sealed in the vault."""
        if not card_token and card is not None:
            card_token = (await self._vault.keep(tx, payment.merchant_id, card, at)).id
        await self.store.insert_review(
            tx,
            Review(payment.merchant_id, payment.id, card_token, ReviewStatus.PENDING, at),
        )

    def note_outcome(self, transaction: Transaction, payment: Payment) -> None:
        """Count a declined payment for card-testing rules, in the background."""
        if payment.state is not PaymentState.DECLINED:
            return
        task = asyncio.get_running_loop().create_task(
            self.velocity.record_decline(transaction, payment.id)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
