"""The AccountService's payout RPCs: withdrawals from a wallet to a bank account.

Served in the AccountService table (``core.api.account_handlers``) through
the pipeline every service shares (``core.api.pipeline``). Validation is in
``core.api.requests.accounts``.
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import Message

from core.api.identity import Caller
from core.api.requests import accounts as validation
from core.api.requests.fingerprint import request_identity
from core.api.status import encode_error
from core.domain.payment import RiskAssessment, RiskDecision
from core.ledger.withdrawals import Withdrawal, WithdrawalState
from core.service.accounts import AccountService
from core.service.execution import Encoder, Reply
from core.wire import convert
from paycore.v1 import account_service_pb2 as account_svc
from paycore.v1 import payment_pb2

_WITHDRAWAL_STATE = {
    WithdrawalState.PENDING: account_svc.Withdrawal.STATE_PENDING,
    WithdrawalState.SUCCEEDED: account_svc.Withdrawal.STATE_SUCCEEDED,
    WithdrawalState.FAILED: account_svc.Withdrawal.STATE_FAILED,
    WithdrawalState.REQUIRES_REVIEW: account_svc.Withdrawal.STATE_REQUIRES_REVIEW,
    WithdrawalState.DECLINED: account_svc.Withdrawal.STATE_DECLINED,
}


def withdrawal_to_proto(withdrawal: Withdrawal) -> account_svc.Withdrawal:
    """A withdrawal as its API message (the bank account masked to its last four)."""
    return account_svc.Withdrawal(
        id=withdrawal.id,
        account_id=withdrawal.account_id,
        amount=convert.money_to_proto(withdrawal.amount),
        bank_account_last4=withdrawal.bank_account[-4:],
        state=_WITHDRAWAL_STATE[withdrawal.state],
        description=withdrawal.description,
        create_time=convert.timestamp(withdrawal.created_at),
        update_time=convert.timestamp(withdrawal.updated_at),
        failure=(
            payment_pb2.PaymentFailure(
                code=withdrawal.failure.code, message=withdrawal.failure.message
            )
            if withdrawal.failure
            else None
        ),
        bank_reference=withdrawal.bank_reference,
        risk=(
            convert.risk_to_proto(
                RiskAssessment(withdrawal.risk_score, RiskDecision(withdrawal.risk_decision))
            )
            if withdrawal.risk_decision
            else None
        ),
        needs_attention=withdrawal.needs_attention,
    )


def _withdrawal_encoder(response_type: Callable[..., Message]) -> Encoder[Withdrawal]:
    return Encoder(
        success=lambda withdrawal: response_type(
            withdrawal=withdrawal_to_proto(withdrawal)
        ).SerializeToString(deterministic=True),
        failure=encode_error,
    )


_WITHDRAW = _withdrawal_encoder(account_svc.WithdrawFundsResponse)
_APPROVE_WITHDRAWAL = _withdrawal_encoder(account_svc.ApproveWithdrawalResponse)
_REJECT_WITHDRAWAL = _withdrawal_encoder(account_svc.RejectWithdrawalResponse)


class PayoutHandlers:
    """One method per withdrawal RPC: validate, call the service, convert the answer."""

    def __init__(self, service: AccountService, secret: bytes) -> None:
        self._service = service
        self._secret = secret  # keys request fingerprints

    async def withdraw_funds(
        self, caller: Caller, request: account_svc.WithdrawFundsRequest
    ) -> Reply:
        command = validation.withdraw_funds(caller.merchant_id, request)
        return await self._service.withdraw(
            command, request_identity(request, self._secret), _WITHDRAW
        )

    async def get_withdrawal(
        self, caller: Caller, request: account_svc.GetWithdrawalRequest
    ) -> account_svc.GetWithdrawalResponse:
        withdrawal_id = validation.withdrawal_id_of(request)
        withdrawal = await self._service.get_withdrawal(caller.merchant_id, withdrawal_id)
        return account_svc.GetWithdrawalResponse(withdrawal=withdrawal_to_proto(withdrawal))

    async def approve_withdrawal(
        self, caller: Caller, request: account_svc.ApproveWithdrawalRequest
    ) -> Reply:
        decision = validation.withdrawal_review(caller.merchant_id, request, approve=True)
        return await self._service.decide_withdrawal_review(
            caller.actor, decision, request_identity(request, self._secret), _APPROVE_WITHDRAWAL
        )

    async def reject_withdrawal(
        self, caller: Caller, request: account_svc.RejectWithdrawalRequest
    ) -> Reply:
        decision = validation.withdrawal_review(caller.merchant_id, request, approve=False)
        return await self._service.decide_withdrawal_review(
            caller.actor, decision, request_identity(request, self._secret), _REJECT_WITHDRAWAL
        )
