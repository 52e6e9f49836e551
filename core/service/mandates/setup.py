"""SetupPaymentMethod: a card verified at a channel, then a mandate recorded.

The setup is three steps, each a request of the exactly-once executor under
the caller's request_id, in a namespace of its own; a retry of the setup
replays each step that committed and runs only what is left, so the card is
verified (and voided) once whatever the retries and crashes:

1. ``SetupPaymentMethod.verify``: a payment of one minor unit, with manual
   capture, goes the authorization path of every payment (risk, routing, the
   channel attempt: core/service/payments/authorize.py). Its stored reply is
   the payment's id, never sent to the caller; a refusal before any payment
   (an unknown customer or token) is stored as the caller's error and returned.
2. ``SetupPaymentMethod.void``: once authorized, the verification is voided
   (core/service/payments/cancel.py). A void the channel refuses leaves the
   small authorization to expire at the issuer; the card is verified all the same.
   A verification risk held for review is canceled the same way (never sent).
3. ``SetupPaymentMethod``: the mandate is recorded with the verification's
   channel reference as its agreement id, or the setup is refused
   (PAYMENT_METHOD_VERIFICATION_FAILED) when the verification did not pass.
   This reply is the caller's, replayed forever.
"""

from __future__ import annotations

from datetime import datetime

from core.domain import ids
from core.domain import mandates as rules
from core.domain.commands import CancelPayment
from core.domain.errors import PaycoreError, Reason
from core.domain.mandates import Mandate, SetupPaymentMethod
from core.domain.money import Money
from core.domain.payment import (
    CaptureMethod,
    CardSummary,
    ConfirmationMethod,
    Payment,
    PaymentState,
)
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.service.customers import check_customer_reference
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payments.authorize import Authorization, settled_payment
from core.service.payments.cancel import PaymentCancellation
from core.service.payments.steps import locked_payment

VERIFY = "SetupPaymentMethod.verify"
VOID = "SetupPaymentMethod.void"
SETUP = "SetupPaymentMethod"


class PaymentMethodSetup:
    """Verifies a customer's card at a channel and records the mandate it was set up under."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        repository: PaymentRepository,
        authorization: Authorization,
    ) -> None:
        self._executor = executor
        self._repository = repository
        self._authorization = authorization
        self._cancellation = PaymentCancellation(executor)

    async def setup_payment_method(
        self, command: SetupPaymentMethod, request: RequestIdentity, encoder: Encoder[Mandate]
    ) -> Reply:
        """Verify, void, record: see the module docstring."""
        verified = await self._verify(command, request, encoder)
        if isinstance(verified, Reply):
            return verified  # refused before any verification: the caller's error
        if verified.operation_in_flight:
            # The channel's answer is not known yet (a timeout): a status query
            # settles it, and the caller's retry carries on from there.
            raise PaycoreError(Reason.REQUEST_IN_PROGRESS, request_id=request.request_id)
        if verified.state in (PaymentState.AUTHORIZED, PaymentState.REQUIRES_REVIEW):
            # Authorized: voided. Held by risk: canceled, so that no approval sends
            # it later; a setup is customer-present, and the customer is gone by then.
            await self._void(verified, request, encoder)
        return await self._record(command, request, encoder, verified.id)

    async def _verify(
        self, command: SetupPaymentMethod, request: RequestIdentity, encoder: Encoder[Mandate]
    ) -> Payment | Reply:
        """Step 1: the verification payment, authorized (or not) at a channel."""
        payment_id = ids.new_id(ids.PAYMENT)
        authorization = self._authorization

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            await check_customer_reference(tx, command.merchant_id, command.customer_id)
            # The customer is required here: a token of another customer is refused.
            card_input, card, _ = await authorization.card_to_use(
                tx, command.merchant_id, None, command.card_token, customer_id=command.customer_id
            )
            payment = _verification_payment(command, payment_id, card, at)
            return await authorization.authorize(
                tx,
                payment,
                card_input,
                at,
                locked=None,
                card_token=command.card_token,
            )

        # The reply of this step is the payment's id: only this use case reads it.
        payment_ids: Encoder[Payment] = Encoder(lambda p: p.id.encode(), encoder.failure)
        key = RequestKey(command.merchant_id, VERIFY, request.request_id)
        reply = await self._executor.execute(key, request, payment_ids, plan, settled_payment)
        if not reply.ok:
            return reply
        payment = await self._repository.get_payment(command.merchant_id, reply.body.decode())
        assert payment is not None  # committed with the reply, and never deleted
        return payment

    async def _void(
        self, verification: Payment, request: RequestIdentity, encoder: Encoder[Mandate]
    ) -> None:
        """Step 2: release the verification (its outcome changes nothing of the setup's)."""
        cancel = CancelPayment(verification.merchant_id, verification.id, "payment method verified")
        ignored: Encoder[Payment] = Encoder(lambda _: b"", encoder.failure)
        await self._cancellation.cancel_payment(cancel, request, ignored, operation=VOID)

    async def _record(
        self,
        command: SetupPaymentMethod,
        request: RequestIdentity,
        encoder: Encoder[Mandate],
        verification_id: str,
    ) -> Reply:
        """Step 3: the mandate, or the verification's refusal; the caller's reply."""
        mandate_id = ids.new_id(ids.MANDATE)

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Mandate]:
            verification = await locked_payment(tx, command.merchant_id, verification_id)
            refusal = rules.verification_refusal(verification)
            if refusal is not None:
                raise refusal
            mandate = rules.new_mandate(command, mandate_id, verification, at)
            await tx.mandates.save(mandate)
            return Plan(mandate.id, result=mandate)

        key = RequestKey(command.merchant_id, SETUP, request.request_id)
        return await self._executor.execute(key, request, encoder, plan)


def _verification_payment(
    command: SetupPaymentMethod, payment_id: str, card: CardSummary | None, at: datetime
) -> Payment:
    """The payment that verifies the card: one minor unit, authorized only (then voided)."""
    currency = command.scope.max_amount.currency
    return Payment(
        id=payment_id,
        merchant_id=command.merchant_id,
        state=PaymentState.REQUIRES_CONFIRMATION,
        amount=Money(rules.VERIFICATION_AMOUNT_MINOR, currency),
        amount_captured=Money.zero(currency),
        amount_refunded=Money.zero(currency),
        capture_method=CaptureMethod.MANUAL,
        confirmation_method=ConfirmationMethod.AUTOMATIC,
        card=card,
        customer_id=command.customer_id,
        description="Payment method verification",
        created_at=at,
        updated_at=at,
    )
