"""CreatePayment and ConfirmPayment: a payment recorded, then authorized (or left to confirm).

A new payment's velocity rides in the gate's Redis round trip when its card is
known before the plan (a card in the request, or a token's row read ahead), so
its first transaction can be group-committed (core/service/group_commit.py).
Both use cases authorize through core/service/payments/authorize.py.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from core.domain import ids, lifecycle
from core.domain.cards import summarize
from core.domain.commands import ConfirmPayment, CreatePayment
from core.domain.customers import customer_paying_by_token
from core.domain.errors import PaycoreError
from core.domain.money import Money
from core.domain.payment import CardSummary, ConfirmationMethod, Payment, PaymentState
from core.ports.repository import PaymentTransaction, RequestKey
from core.risk.screen import RiskScreen, Screening
from core.service.card_vault import CardVault
from core.service.customers import check_customer_reference
from core.service.execution import Encoder, Plan, Reply, RequestExecutor, RequestIdentity
from core.service.payment_changes import payment_change
from core.service.payments.authorize import Authorization, risk_transaction, settled_payment
from core.service.payments.mandate_charge import charge_under_mandate, record_mandate_charge
from core.service.payments.steps import locked_payment
from core.vault.records import StoredCard
from riskengine import Transaction


class PaymentCreation:
    """Creates payments and confirms those that wait for it."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        vault: CardVault,
        risk: RiskScreen,
        authorization: Authorization,
        fingerprint_key: str,
    ) -> None:
        """``fingerprint_key``: keys the HMAC of card numbers in their masked form."""
        self._executor = executor
        self._vault = vault
        self._risk = risk
        self._authorization = authorization
        self._fingerprint_key = fingerprint_key

    async def create_payment(
        self, command: CreatePayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Record a payment and, unless confirmation is manual, authorize it."""
        payment_id = ids.new_id(ids.PAYMENT)
        # A card in the request is summarised (an HMAC of its number) and described to
        # risk once, for the gate's velocity rider and for every run of the plan.
        card_key = self._fingerprint_key
        summary = None if command.card is None else summarize(command.card, card_key)
        stored = await self._token_row(command)
        transaction = _velocity_transaction(command, summary, stored)
        velocity = None
        if transaction is not None:
            velocity = self._risk.velocity.rider(transaction, payment_id)
        # The plan may run twice: recorded for a group commit, then for real when the
        # batch cannot take it. Risk scores it once: the second run reuses the verdict,
        # so velocity, metrics and spans count the payment once.
        scored: list[Screening] = []
        authorization = self._authorization

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            # Under a mandate, the mandate gives the customer and the card token
            # (validation allows neither a card nor a token of the request's own).
            mandate = None
            terms_at = command.mandate_time or at
            if command.mandate_id:
                mandate = await charge_under_mandate(tx, command, terms_at)
            customer_id = mandate.customer_id if mandate else command.customer_id
            card_token = mandate.card_token if mandate else command.card_token
            card_input, card = command.card, summary  # a card and a token are exclusive
            if card_token:
                # A token that belongs to a customer pays for that customer only
                # ("" takes it); its customer comes with its row, read as before.
                card_input, card, customer_id = await authorization.card_to_use(
                    tx, command.merchant_id, None, card_token, stored, customer_id=customer_id
                )
            # A customer id must name a live customer; reading it takes the payment
            # off the group commit, only for payments that name one.
            await check_customer_reference(tx, command.merchant_id, customer_id)
            payment = Payment(
                id=payment_id,
                merchant_id=command.merchant_id,
                state=PaymentState.REQUIRES_CONFIRMATION,
                amount=command.amount,
                amount_captured=Money.zero(command.amount.currency),
                amount_refunded=Money.zero(command.amount.currency),
                capture_method=command.capture_method,
                confirmation_method=command.confirmation_method,
                card=card,
                customer_id=customer_id,
                description=command.description,
                metadata=command.metadata,
                created_at=at,
                updated_at=at,
                bank_transfer=command.bank_transfer,
                redirect_wallet=command.redirect_wallet,
            )
            if command.confirmation_method is ConfirmationMethod.MANUAL or not payment.method:
                # Validation guarantees a payment method with automatic confirmation;
                # with manual confirmation ConfirmPayment brings it.
                await tx.payments.save(payment_change(None, payment))
                return Plan(payment.id, result=payment)
            planned = await authorization.authorize(
                tx,
                payment,
                card_input,
                at,
                locked=None,
                card_token=card_token,
                context=command.risk_context,
                counted=velocity.read() if velocity else None,
                scored=scored,
                transaction=transaction,
                mandate=mandate,
                return_url=command.return_url,
            )
            if mandate is not None:
                await record_mandate_charge(tx, mandate, planned, terms_at)
            return planned

        key = RequestKey(command.merchant_id, "CreatePayment", request.request_id)
        return await self._executor.execute(
            key, request, encoder, plan, settled_payment, rider=velocity, batch=True
        )

    async def confirm_payment(
        self, command: ConfirmPayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply:
        """Score, route and authorize a payment waiting for confirmation."""
        authorization = self._authorization

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[Payment]:
            payment = await locked_payment(tx, command.merchant_id, command.payment_id)
            lifecycle.require(payment, "confirm")
            # A payment's customer is fixed when it is created: a token of another
            # customer is refused, and one without a customer stays without.
            card_input, card, _ = await authorization.card_to_use(
                tx,
                command.merchant_id,
                command.card,
                command.card_token,
                customer_id=payment.customer_id,
            )
            # Validation requires a card, a token or a bank transfer.
            assert card_input is not None or command.bank_transfer is not None
            with_method = dataclasses.replace(
                payment, card=card, bank_transfer=command.bank_transfer
            )
            return await authorization.authorize(
                tx,
                with_method,
                card_input,
                at,
                locked=payment,
                card_token=command.card_token,
                return_url=command.return_url,
            )

        key = RequestKey(command.merchant_id, "ConfirmPayment", request.request_id)
        return await self._executor.execute(key, request, encoder, plan, settled_payment)

    async def _token_row(self, command: CreatePayment) -> StoredCard | None:
        """The vault row of a payment by token that is authorized at once, read before the gate.

        Its masked card makes the velocity rider, so that a payment by token,
        like one by card, costs one Redis round trip and can be group-committed
        (its plan then reads nothing). Read on a connection of its own, shared
        with concurrent requests' reads, while this request holds none; nothing
        is decrypted before the plan (after the rate limit and the request_id
        check). An unknown token reads None here and is NOT_FOUND in the plan,
        as before.
        """
        if not command.card_token or command.confirmation_method is ConfirmationMethod.MANUAL:
            return None
        return await self._vault.find(command.merchant_id, command.card_token)


def _velocity_transaction(
    command: CreatePayment, summary: CardSummary | None, stored: StoredCard | None
) -> Transaction | None:
    """What risk scores of a new payment whose velocity rides in the gate's round trip.

    For a card in the request (``summary``: its masked form) or a token whose
    row was read before the gate (``stored``); without one the velocity is
    read and counted by the plan. The plan's scoring reuses it: the payment
    it builds has exactly these values.
    """
    if command.bank_transfer is not None or command.confirmation_method is (
        ConfirmationMethod.MANUAL
    ):
        return None
    # The method as the authorization path names it (a bank transfer has no rider).
    if summary is not None:
        card, method = summary, "card"
    elif stored is not None:
        card, method = stored.token.card, "card_token"
    else:
        return None
    customer_id = command.customer_id
    if stored is not None:
        try:  # the payment's customer, as the plan decides it from the same row
            customer_id = customer_paying_by_token(
                customer_id, stored.token.id, stored.token.customer_id
            )
        except PaycoreError:
            return None  # refused by the plan, where the refusal is the request's outcome
    return risk_transaction(
        command.merchant_id,
        command.amount,
        card,
        customer_id,
        command.risk_context,
        method,
    )
