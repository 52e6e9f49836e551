"""Withdrawals: money from an account to a bank account, scored, held, sent, answered.

The withdrawal use cases of ``AccountService`` (core/service/accounts.py),
and the port they send withdrawals through (``PayoutChannel``, implemented by
core/service/payouts.py). A withdrawal reserves its amount on the account (a
hold) in the transaction that records it; the bank is told only after that
commit, and its answer posts the hold (paid out) or releases it (refused).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from core.domain import ids
from core.domain.audit import Actor, AuditRecord
from core.domain.errors import NotFoundError, Reason
from core.domain.payment import Failure, RiskDecision
from core.gate import RequestGate, RpcClass
from core.ledger.commands import WithdrawalReviewDecision, WithdrawFunds
from core.ledger.withdrawals import (
    Withdrawal,
    WithdrawalState,
    release_hold,
    require_review,
    withdrawal_hold,
    withdrawal_outcome,
)
from core.ports.ledger import LedgerStore
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.service.account_checks import RISK_DECLINED, Screener, check_account, score_outflow
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity

log = logging.getLogger(__name__)


class PayoutChannel(Protocol):
    """Where withdrawals go: the bank channel's payout side (core/service/payouts.py).

    ``submit`` hands a PENDING withdrawal to the bank and returns at once; the
    bank's answer comes later (its signed notification, or a status query)
    and is applied with ``AccountService.complete_withdrawal``. ``submit``
    must be idempotent by ``withdrawal.id``: after a crash between commit and
    submit, the status query submits it again.
    """

    first_query_after_s: float
    """When a status query first asks the bank about a withdrawal submitted now."""

    async def submit(self, withdrawal: Withdrawal) -> None:
        """Send ``withdrawal`` to the bank (its answer arrives via complete_withdrawal)."""
        ...


class UnwiredPayoutChannel:
    """A PayoutChannel that sends nothing: withdrawals stay PENDING, their money held.

    For services built without a bank (tests of other parts); an operator
    resolves each withdrawal with ``AccountService.complete_withdrawal``.
    """

    first_query_after_s = 3600.0

    async def submit(self, withdrawal: Withdrawal) -> None:
        """Log that nothing was sent."""
        log.warning("withdrawal %s stays pending: no bank channel is wired", withdrawal.id)


class WithdrawalUseCases:
    """The withdrawal half of ``AccountService``: withdraw, review, look up, apply the answer.

    A mixin: ``AccountService`` sets the dependencies declared here (and its
    wallet use cases use them too).
    """

    _executor: RequestExecutor
    _store: LedgerStore
    _gate: RequestGate
    _repo: PaymentRepository
    _risk: Screener
    _payouts: PayoutChannel
    _clock: Callable[[], datetime]

    async def withdraw(
        self, command: WithdrawFunds, request: RequestIdentity, encoder: Encoder[Withdrawal]
    ) -> Reply:
        """Score, reserve ``amount`` on the account and send it to the bank; answers at once.

        Risk DECLINE: DECLINED, nothing held. REVIEW: REQUIRES_REVIEW, held,
        not sent until an admin approves. ALLOW: PENDING, held, sent.
        """
        sent: list[Withdrawal] = []  # set when this call (not a replay) must submit it

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Withdrawal]:
            # Not locked here: ``post`` locks the account with the clearing
            # account in id order (locking this one first could deadlock with
            # a bank answer, which locks them in that order) and checks funds.
            account = await self._store.account_in(tx, command.merchant_id, command.account_id)
            account = check_account(account, command.account_id, command.amount, wallet_only=False)
            withdrawal_id = ids.new_id(ids.WITHDRAWAL)
            risk = await score_outflow(
                self._risk, tx, command, account, withdrawal_id, method="withdrawal"
            )
            state = {
                RiskDecision.APPROVE: WithdrawalState.PENDING,
                RiskDecision.REVIEW: WithdrawalState.REQUIRES_REVIEW,
                # No customer at a withdrawal to authenticate: a person looks instead.
                RiskDecision.STEP_UP: WithdrawalState.REQUIRES_REVIEW,
                RiskDecision.DECLINE: WithdrawalState.DECLINED,
            }[risk.decision]
            withdrawal = Withdrawal(
                id=withdrawal_id,
                merchant_id=command.merchant_id,
                account_id=account.id,
                amount=command.amount,
                bank_account=command.bank_account,
                state=state,
                created_at=at,
                updated_at=at,
                description=command.description,
                failure=RISK_DECLINED if state is WithdrawalState.DECLINED else None,
                risk_decision=risk.decision.value,
                risk_score=risk.score,
            )
            if state is not WithdrawalState.DECLINED:
                # The hold is decided before anything is written (INSUFFICIENT_FUNDS
                # leaves no withdrawal behind) and reserves the money at once.
                await self._store.post(tx, withdrawal_hold(withdrawal), at)
            first_query = self._first_query(at) if state is WithdrawalState.PENDING else None
            await self._store.insert_withdrawal(tx, withdrawal, first_query)
            if state is WithdrawalState.PENDING:
                sent.append(withdrawal)
            return Plan(withdrawal.id, result=withdrawal)

        key = RequestKey(command.merchant_id, "WithdrawFunds", request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        await self._submit(reply, sent)
        return reply

    async def decide_withdrawal_review(
        self,
        actor: Actor,
        decision: WithdrawalReviewDecision,
        request: RequestIdentity,
        encoder: Encoder[Withdrawal],
    ) -> Reply:
        """Approve (send to the bank) or reject (release the hold) a withdrawal held by risk."""
        sent: list[Withdrawal] = []
        rpc = "ApproveWithdrawal" if decision.approve else "RejectWithdrawal"

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Withdrawal]:
            held = await self._store.lock_withdrawal(
                tx, decision.merchant_id, decision.withdrawal_id
            )
            if held is None:
                raise NotFoundError(
                    Reason.WITHDRAWAL_NOT_FOUND, withdrawal_id=decision.withdrawal_id
                )
            require_review(held)
            if decision.approve:
                done = dataclasses.replace(held, state=WithdrawalState.PENDING, updated_at=at)
                await self._store.save_withdrawal_state(tx, done, self._first_query(at))
                sent.append(done)
            else:
                await self._store.post(tx, release_hold(held), at)
                failure = Failure(
                    "risk_rejected", decision.note or "The withdrawal was rejected in review."
                )
                done = dataclasses.replace(
                    held, state=WithdrawalState.DECLINED, failure=failure, updated_at=at
                )
                await self._store.save_withdrawal_state(tx, done)
            await tx.audit.record(
                AuditRecord(
                    actor=actor,
                    action="withdrawal_review.approve"
                    if decision.approve
                    else ("withdrawal_review.reject"),
                    resource_type="withdrawal",
                    resource_id=held.id,
                    merchant_id=held.merchant_id,
                    at=at,
                    before=_withdrawal_snapshot(held),
                    after=_withdrawal_snapshot(done),
                    details={"request_id": request.request_id, "note": decision.note},
                )
            )
            return Plan(done.id, result=done)

        key = RequestKey(decision.merchant_id, rpc, request.request_id)
        reply = await self._executor.execute(key, request, encoder, plan)
        await self._submit(reply, sent)
        return reply

    async def _submit(self, reply: Reply, sent: list[Withdrawal]) -> None:
        if reply.ok and sent:
            # After the commit, never inside it: the bank must not hear of a
            # withdrawal that did not commit. A crash (or a failed submit) in
            # between leaves it PENDING with its hold; its status query finds
            # the bank never got it and submits it again.
            try:
                await self._payouts.submit(sent[0])
            except Exception:
                log.exception("payout %s not submitted; its status query retries", sent[0].id)

    def _first_query(self, at: datetime) -> datetime:
        return at + timedelta(seconds=self._payouts.first_query_after_s)

    async def get_withdrawal(self, merchant_id: str, withdrawal_id: str) -> Withdrawal:
        """One withdrawal; NOT_FOUND for unknown ids and other merchants' withdrawals."""
        await self._gate.admit(merchant_id, RpcClass.READS, None)
        withdrawal = await self._store.get_withdrawal(merchant_id, withdrawal_id)
        if withdrawal is None:
            raise NotFoundError(Reason.WITHDRAWAL_NOT_FOUND, withdrawal_id=withdrawal_id)
        return withdrawal

    async def complete_withdrawal(
        self,
        merchant_id: str,
        withdrawal_id: str,
        succeeded: bool,
        *,
        failure: Failure | None = None,
        bank_reference: str = "",
    ) -> Withdrawal:
        """Apply the bank's answer: post the hold (paid out) or release it (refused).

        Idempotent and order-safe: only a PENDING withdrawal changes; one
        already answered keeps its first answer (a notification delivered
        twice, or a status query racing it, changes nothing), and one held
        for review was never sent, so no bank answer applies to it.
        """
        at = self._clock()
        async with self._repo.transaction() as tx:
            withdrawal = await self._store.lock_withdrawal(tx, merchant_id, withdrawal_id)
            if withdrawal is None:
                raise NotFoundError(Reason.WITHDRAWAL_NOT_FOUND, withdrawal_id=withdrawal_id)
            if withdrawal.state is not WithdrawalState.PENDING:
                return withdrawal
            await self._store.post(tx, withdrawal_outcome(withdrawal, succeeded), at)
            done = dataclasses.replace(
                withdrawal,
                state=WithdrawalState.SUCCEEDED if succeeded else WithdrawalState.FAILED,
                failure=None if succeeded else failure or _BANK_REFUSED,
                bank_reference=bank_reference or withdrawal.bank_reference,
                needs_attention=False,
                updated_at=at,
            )
            await self._store.save_withdrawal_state(tx, done)
        return done


_BANK_REFUSED = Failure("payout_refused", "The bank refused the payout.")


def _withdrawal_snapshot(withdrawal: Withdrawal) -> dict[str, object]:
    return {
        "state": withdrawal.state.value,
        "amount_minor": withdrawal.amount.amount,
        "currency": withdrawal.amount.currency,
        "account_id": withdrawal.account_id,
        "risk_decision": withdrawal.risk_decision,
        "risk_score": withdrawal.risk_score,
    }
