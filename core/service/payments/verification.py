"""Verification codes: a wallet payment risk stepped up waits for its customer's one-time code.

Which payments: a wallet payment (AccountService.PayFromWallet) the risk engine
answers ``STEP_UP`` (a score in the rules file's step-up band, no exemption)
whose wallet names a customer of the merchant with an email address. The
merchant decides which of its wallet payments fall in the band with its rules
(e.g. ``method == "wallet"`` and ``amount >= ...``: riskengine/README.md).

``ask`` opens the step in the payment's first transaction: a fresh six-digit
code, stored only as its keyed digest; the code is handed to the
``CodeSender`` after that transaction committed (``deliver``). ``verify``
(PaymentService.VerifyPaymentCode) runs once per request_id through the
exactly-once executor, under the payment's row lock: a wrong code costs an
attempt (the last one declines the payment, ``verification_failed``), the
right one pays from the wallet as PayFromWallet would have (its funds checked
under the wallet's lock), and a code past the deadline cancels. ``run``
sweeps the steps left past their deadline (CANCELED, ``verification_expired``).
Nothing is held while the code is awaited, so nothing is released.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.domain import clock as wall_clock
from core.domain import lifecycle
from core.domain.authentication import NextAction
from core.domain.commands import VerifyPaymentCode
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.payment import WALLET_KEY, Payment, RiskAssessment
from core.domain.verification import (
    CODE_DIGITS,
    MAX_ATTEMPTS,
    VerifyCode,
    code_digest,
    code_matches,
    mask_destination,
)
from core.ports.ledger import LedgerStore
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.ports.verification import CodeSender, VerificationCodeStore
from core.service.account_checks import check_account
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payment_changes import payment_change
from core.service.payments.steps import locked_payment, sweep_every


@dataclass(frozen=True, slots=True)
class CodeSettings:
    """How long a code lasts, how many wrong ones it takes, how often expiry is swept."""

    expiry_s: float = 600.0
    max_attempts: int = MAX_ATTEMPTS
    sweep_interval_s: float = 1.0


@dataclass(frozen=True, slots=True)
class PendingCode:
    """A code to hand to the sender once its payment's transaction committed."""

    merchant_id: str
    payment_id: str
    destination: str
    code: str = field(repr=False)


def code_key(secret: str) -> bytes:
    """The key of code digests, derived from a server secret (its own use of it)."""
    return hmac.new(secret.encode(), b"paycore verification codes", hashlib.sha256).digest()


async def customer_destination(tx: PaymentTransaction, merchant_id: str, customer_id: str) -> str:
    """Where a customer's codes go: the email of the merchant's live customer ("": nowhere)."""
    if not customer_id:
        return ""
    customer = await tx.customers.find(merchant_id, customer_id)
    return customer.email if customer is not None else ""


class CodeVerification:
    """Opens verification steps, checks submitted codes, cancels steps left too long."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        repository: PaymentRepository,
        store: VerificationCodeStore,
        ledger: LedgerStore,
        sender: CodeSender,
        key: bytes,
        settings: CodeSettings,
        clock: Callable[[], datetime] = wall_clock.now,
    ) -> None:
        self._executor = executor
        self._repository = repository
        self._store = store
        self._ledger = ledger
        self._key = key
        self._settings = settings
        self._clock = clock
        self.sender = sender
        """Where codes go (the sandbox's keeps them for tests)."""

    async def ask(
        self,
        tx: PaymentTransaction,
        payment: Payment,
        risk: RiskAssessment,
        destination: str,
        at: datetime,
    ) -> tuple[Payment, PendingCode]:
        """Store the new ``payment`` waiting for a code sent to ``destination``.

        ``payment``: REQUIRES_CONFIRMATION, not stored yet. The code is returned
        for ``deliver``, never stored.
        """
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        step = VerifyCode(mask_destination(destination), self._settings.max_attempts)
        action = NextAction(None, at + timedelta(seconds=self._settings.expiry_s), verify_code=step)
        waiting = lifecycle.require_code(payment, risk, action, at)
        await tx.payments.save(payment_change(None, waiting))
        await self._store.open(tx, waiting, code_digest(self._key, waiting.id, code))
        return waiting, PendingCode(payment.merchant_id, payment.id, destination, code)

    async def deliver(self, pending: list[PendingCode]) -> None:
        """Send the codes of steps just committed.

        After the commit, so no code goes out for a payment that was rolled
        back. A crash between the commit and the send leaves the customer
        without a code: the step expires and the payment is canceled.
        """
        for item in pending:
            await self.sender.send(item.merchant_id, item.payment_id, item.destination, item.code)

    async def verify(
        self, command: VerifyPaymentCode, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Apply the customer's code to the payment (once per request_id)."""

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await locked_payment(tx, command.merchant_id, command.payment_id)
            if lifecycle.code_expired(payment, at):
                # Late: the deadline passed before the sweep got to it.
                ended = lifecycle.abandon_code(payment, at)
            elif not lifecycle.code_open(payment):
                raise IllegalTransitionError(
                    Reason.VERIFICATION_NOT_PENDING,
                    payment_id=payment.id,
                    state=payment.state.name,
                )
            else:
                digest = await self._store.digest(tx, payment.merchant_id, payment.id)
                if code_matches(self._key, payment.id, command.code, digest):
                    ended = await self._pay(tx, payment, at)
                else:
                    ended = lifecycle.reject_code(payment, at)
            await self._save(tx, payment, ended)
            return Plan(payment.id, result=ended)

        key = RequestKey(command.merchant_id, "VerifyPaymentCode", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def _pay(self, tx: PaymentTransaction, payment: Payment, at: datetime) -> Payment:
        """The right code: the wallet pays now, if it still holds the amount.

        Lock order: the payment (locked by the plan), then the wallet, as a
        refund of a wallet payment takes them.
        """
        wallet_id = payment.metadata.get(WALLET_KEY, "")
        wallet = await self._ledger.lock_account(tx, payment.merchant_id, wallet_id)
        wallet = check_account(wallet, wallet_id, payment.amount, wallet_only=True)
        if wallet.balance.available < payment.amount.amount:
            return lifecycle.decline_unfunded(payment, at)
        return lifecycle.accept_code(payment, at)

    async def _save(self, tx: PaymentTransaction, locked: Payment, ended: Payment) -> None:
        # A capture's posting (wallet -> merchant_pending) goes with the payment's change.
        await tx.payments.save(payment_change(locked, ended))
        await self._store.record(tx, ended)

    async def expire_due(self, limit: int = 100) -> int:
        """Cancel steps past their deadline; returns how many payments were canceled."""
        at = self._clock()
        canceled = 0
        for merchant_id, payment_id in await self._store.expired(at, limit):
            async with self._repository.transaction() as tx:
                payment = await tx.payments.lock(merchant_id, payment_id)
                if payment is None:
                    continue
                # Re-checked under the lock: a code (or a cancel) may have come first.
                if not lifecycle.code_expired(payment, at):
                    await self._store.record(tx, payment)  # ended otherwise: close the step
                    continue
                await self._save(tx, payment, lifecycle.abandon_code(payment, at))
                canceled += 1
        return canceled

    async def run(self, stopping: asyncio.Event) -> None:
        """Sweep expired steps every ``sweep_interval_s`` until ``stopping`` is set."""
        await sweep_every(
            self._settings.sweep_interval_s, stopping, self.expire_due, "verification expiry"
        )


async def no_code_steps(
    command: VerifyPaymentCode, request: RequestIdentity, encoder: Encoder[Payment]
) -> Reply:
    """VerifyPaymentCode where no payment is ever asked for a code (no ``CodeVerification``)."""
    raise IllegalTransitionError(
        Reason.VERIFICATION_NOT_PENDING, payment_id=command.payment_id, state="not waiting"
    )
