"""Billing (issue 20): each due period of a subscription invoiced and charged, exactly once.

One step of a leased subscription (``BillingRunner.bill``), by the merchant's
billing clock (its test clock, else the wall clock)::

    transaction 1: lock the subscription; not due -> done
        cancel at period end due -> CANCELED, done
        no OPEN invoice -> open one for the next period (unique per period)
    charge: CreatePayment through the ordinary payment path (risk, routing,
        ledger, events), request_id = charge_request_id(subscription, period, attempt)
    transaction 2: lock again; the invoice's attempts still as read -> record the
        outcome: PAID (subscription ACTIVE, next period) or a failed charge
        (dunning: PAST_DUE with the next retry, or CANCELED/UNPAID after the last)

Why it is exactly once: a subscription is leased to one runner at a time
(core/storage/billing_leases.py); an invoice is unique per (subscription,
period) in PostgreSQL; and a runner that crashes between the charge and
transaction 2 left the invoice's attempts as they were, so whoever re-runs the
step computes the same request_id and the payment engine replays the first
charge's stored reply (core/service/execution.py) instead of charging again.
Transaction 2 records an outcome only if the attempts are still those the
charge was numbered from, so two runners that both got the same reply record
it once. A charge whose channel answer is unknown is recorded later: the next
step replays the request_id and gets the payment as a status query settled it.

The charge itself is built by ``invoice_charge`` alone: the one place that says
what a renewal's CreatePayment is. A subscription with a mandate is charged
under it, merchant-initiated (``mandate_id``, no card of its own: the payment
path takes the card and the customer from the mandate, tells the channel its
agreement id and scores the charge as merchant initiated). A mandate revoked or
expired since the subscription took it is refused by the payment path before
anything is created (its refusal is the request's stored reply): a failed
charge like a decline, its failure code the reason (``mandate_revoked``), dunned
on the schedule; the next attempt has a request_id of its own, so a new mandate
(UpdateSubscription) is charged afresh.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Protocol

from core.domain import clock as wall_clock
from core.domain import ids
from core.domain import invoices as invoice_rules
from core.domain import subscriptions as rules
from core.domain.billing_events import (
    INVOICE_CREATED,
    INVOICE_PAID,
    INVOICE_PAYMENT_FAILED,
    BillingEvent,
    subscription_events,
)
from core.domain.commands import CreatePayment
from core.domain.errors import PaycoreError, Reason
from core.domain.invoices import DunningSchedule, Invoice, InvoiceStatus
from core.domain.money import Money
from core.domain.payment import Payment, PaymentState
from core.domain.subscriptions import Subscription
from core.ports.repository import PaymentRepository
from core.ports.subscriptions import BillingLeases, DueSubscription
from core.service.requests import Encoder, Reply, RequestIdentity

log = logging.getLogger(__name__)

NO_PAYMENT_METHOD = "no_payment_method"
"""An invoice's failure code when neither the subscription nor its customer has a card."""


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    """What a charge's reply says."""

    payment_id: str
    paid: bool
    settled: bool
    """False while the channel's answer is unknown (a status query will settle it)."""
    failure_code: str = ""


class ChargeReplies(Protocol):
    """A charge's reply, encoded as CreatePayment's (an adapter's codec) and read back."""

    @property
    def encoder(self) -> Encoder[Payment]:
        """Encodes the charge's reply (stored with its request_id)."""
        ...

    def outcome(self, reply: Reply) -> ChargeOutcome:
        """The outcome a stored or fresh reply reports."""
        ...


class Charges(Protocol):
    """The payment path billing charges through (``PaymentService.create_payment``)."""

    async def __call__(
        self, command: CreatePayment, request: RequestIdentity, encoder: Encoder[Payment]
    ) -> Reply: ...


_PAID = (PaymentState.CAPTURED, PaymentState.PARTIALLY_REFUNDED, PaymentState.REFUNDED)
_UNPAID = (PaymentState.DECLINED, PaymentState.FAILED, PaymentState.CANCELED)


def payment_outcome(payment: Payment) -> ChargeOutcome:
    """A charge's outcome from its payment as it is now (captured: paid; unsettled: wait)."""
    if payment.state in _PAID:
        return ChargeOutcome(payment.id, paid=True, settled=True)
    if payment.state in _UNPAID:
        code = payment.failure.code if payment.failure else "payment_failed"
        return ChargeOutcome(payment.id, paid=False, settled=True, failure_code=code)
    return ChargeOutcome(payment.id, paid=False, settled=False)


def invoice_charge(subscription: Subscription, invoice: Invoice, card_token: str) -> CreatePayment:
    """The CreatePayment that charges ``invoice``: the one place a renewal's payment is made.

    Under the subscription's mandate when it has one: a merchant-initiated
    (off-session) charge, the card the mandate's (``card_token`` is unused),
    its terms judged when the charge was due by the merchant's clock (a test
    clock's month is a month to a monthly mandate); else a charge of ``card_token``.
    """
    mandate_id = subscription.mandate_id
    return CreatePayment(
        mandate_time=invoice_rules.charge_due_at(invoice) if mandate_id else None,
        merchant_id=subscription.merchant_id,
        amount=Money(invoice.amount, invoice.currency),
        card=None,
        card_token="" if mandate_id else card_token,
        mandate_id=mandate_id,
        customer_id=subscription.customer_id,
        description=f"{subscription.price.product_name} {invoice.period_start:%Y-%m-%d}",
        metadata=MappingProxyType({"subscription_id": subscription.id, "invoice_id": invoice.id}),
    )


def _fingerprint(command: CreatePayment, request_id: str) -> bytes:
    # The same charge always has the same fingerprint, so its replay is accepted. How
    # it pays (card token or mandate) is left out on purpose: the merchant may switch
    # either between a charge cut short and its replay, and the replay must then answer
    # the first charge (its money moved), not refuse the request_id and let dunning
    # charge the new card again. The invoice fixes the amount and currency.
    text = f"{request_id}|{command.amount.amount}|{command.amount.currency}"
    return hashlib.sha256(text.encode()).digest()


@dataclass(frozen=True, slots=True)
class BillingSettings:
    """How billing runs."""

    dunning: DunningSchedule = field(default_factory=DunningSchedule)
    lease_s: float = 120.0
    """How long a runner holds a subscription; longer than one charge can take."""
    batch: int = 50


@dataclass(frozen=True, slots=True)
class _Charge:
    subscription: Subscription
    invoice: Invoice
    card_token: str


class BillingRunner:
    """Bills due subscriptions: ``run_once`` leases a batch and bills each to date."""

    def __init__(
        self,
        *,
        repository: PaymentRepository,
        leases: BillingLeases,
        charge: Charges,
        replies: ChargeReplies,
        settings: BillingSettings,
        owner: str,
        clock: Callable[[], datetime] = wall_clock.now,
    ) -> None:
        """``owner`` names this runner in its leases; ``clock`` is the wall clock."""
        self._repo = repository
        self._leases = leases
        self._charge = charge
        self._replies = replies
        self._settings = settings
        self._owner = owner
        self._clock = clock

    async def watch(self, interval_s: float) -> None:
        """Run ``run_once`` every ``interval_s`` seconds until cancelled.

        Cancelled mid-step (shutdown): a transaction cut short rolls back; a
        charge already sent stays the payment engine's to finish, and the lease,
        once expired, lets the next run replay it by its request_id.
        """
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("billing run failed; retried at the next poll")
            await asyncio.sleep(interval_s)

    async def run_once(self) -> int:
        """Lease the subscriptions due now and bill each until it is not due; how many."""
        due = await self._leases.lease_due(
            self._owner, self._clock(), self._settings.lease_s, self._settings.batch
        )
        for item in due:
            try:
                # A subscription may owe several periods (a test clock jumped a year):
                # one step per period, while the lease holds.
                while await self.bill(item):
                    pass
            except Exception:
                # One subscription's trouble (PostgreSQL away mid-step...) must not starve
                # the others of the batch; its step is re-run by a later round.
                log.exception("billing %s failed; retried later", item.subscription_id)
            finally:
                await self._leases.release(self._owner, item)
        return len(due)

    async def bill(self, due: DueSubscription) -> bool:
        """One step of ``due`` (module docstring); True when it may be due again at once."""
        charge = await self._open(due)
        if charge is None:
            return False
        invoice = charge.invoice
        if invoice.amount == 0:
            return await self._record(charge, None)
        subscription = charge.subscription
        if not charge.card_token and not subscription.mandate_id:
            return await self._record(charge, ChargeOutcome("", False, True, NO_PAYMENT_METHOD))
        command = invoice_charge(subscription, invoice, charge.card_token)
        request_id = invoice_rules.charge_request_id(
            invoice.subscription_id, invoice.period_start, invoice.attempts + 1
        )
        identity = RequestIdentity(request_id, _fingerprint(command, request_id))
        try:
            reply = await self._charge(command, identity, self._replies.encoder)
        except PaycoreError as error:
            if error.reason is Reason.IDEMPOTENCY_KEY_REUSED:
                # This request_id was spent on another charge (an invoice's amount
                # changed under it?). A charge was made: never dun it as a failure,
                # which would charge again; leave the invoice for an operator.
                log.error("charge %s: request_id spent on another charge", request_id)
                return False
            if error.retryable:
                # Busy or in progress (a charge of this request_id cut short by a crash,
                # until its attempt is settled): not this charge's outcome; later.
                log.info("charge %s: %s; retried later", request_id, error.reason.name)
                return False
            # Refused before it started (nothing stored under the request_id): a failed
            # charge, dunned like a decline; the next attempt has a request_id of its own.
            return await self._record(
                charge, ChargeOutcome("", False, True, error.reason.name.lower())
            )
        outcome = self._replies.outcome(reply)
        if not outcome.settled and outcome.payment_id:
            # The reply is the payment as the charge left it (held for risk review, or
            # its channel answer unknown); a replay says the same, so ask the payment.
            payment = await self._repo.get_payment(subscription.merchant_id, outcome.payment_id)
            if payment is not None:
                outcome = payment_outcome(payment)
        if not outcome.settled:
            log.info("charge %s of %s unsettled; retried later", request_id, invoice.id)
            return False
        return await self._record(charge, outcome)

    async def _open(self, due: DueSubscription) -> _Charge | None:
        async with self._repo.transaction() as tx:
            records = tx.subscriptions
            subscription = await records.lock(due.merchant_id, due.subscription_id)
            if subscription is None or subscription.next_billing_at is None:
                return None
            now = await records.clock_now(due.merchant_id, self._clock())
            if subscription.next_billing_at > now:
                return None
            invoice = await records.open_invoice(due.merchant_id, due.subscription_id)
            if invoice is None:
                if rules.ends_at_renewal(subscription):
                    ended = rules.canceled(subscription, now)
                    await records.save(ended)
                    await records.announce(subscription_events(subscription, ended), self._clock())
                    return None
                amount, _ = rules.renewal_amount(subscription)
                invoice = invoice_rules.opened(
                    ids.new_id(ids.INVOICE),
                    merchant_id=subscription.merchant_id,
                    subscription_id=subscription.id,
                    period=subscription.next_period(),
                    amount=amount,
                    currency=subscription.price.currency,
                    at=now,
                )
                await records.save_invoice(invoice)
                subscription = rules.billed(subscription, now)
                await records.save(subscription)
                await records.announce(
                    [BillingEvent(INVOICE_CREATED, subscription, invoice)], self._clock()
                )
            token = subscription.payment_method
            if not token and not subscription.mandate_id:
                customer = await tx.customers.find(due.merchant_id, subscription.customer_id)
                token = "" if customer is None else customer.default_payment_method
            return _Charge(subscription, invoice, token)

    async def _record(self, charge: _Charge, outcome: ChargeOutcome | None) -> bool:
        """Record the charge's outcome (None: nothing to charge) unless recorded already."""
        before = charge.invoice
        async with self._repo.transaction() as tx:
            records = tx.subscriptions
            subscription = await records.lock(before.merchant_id, before.subscription_id)
            invoice = await records.lock_invoice(before.merchant_id, before.id)
            if subscription is None or invoice is None or invoice.attempts != before.attempts:
                return False  # another runner recorded this charge's outcome
            now = await records.clock_now(before.merchant_id, self._clock())
            if invoice.status is InvoiceStatus.VOID:
                # Canceled while the charge was in flight. Money that moved paid the
                # invoice (the merchant may refund it); the subscription stays canceled.
                if outcome is not None and outcome.paid:
                    invoice = invoice_rules.charge_succeeded(invoice, outcome.payment_id, now)
                    await records.save_invoice(invoice)
                    event = BillingEvent(INVOICE_PAID, subscription, invoice)
                    await records.announce([event], self._clock())
                return False
            if invoice.status is not InvoiceStatus.OPEN:
                return False  # recorded already (a zero invoice keeps its attempts)
            period = (invoice.period_start, invoice.period_end)
            if outcome is None:
                invoice = invoice_rules.paid_without_charge(invoice, now)
                after = rules.paid(subscription, period, now)
            elif outcome.paid:
                invoice = invoice_rules.charge_succeeded(invoice, outcome.payment_id, now)
                after = rules.paid(subscription, period, now)
            else:
                invoice = invoice_rules.charge_failed(
                    invoice, outcome.payment_id, outcome.failure_code, self._settings.dunning, now
                )
                after = rules.payment_failed(subscription, invoice.next_attempt_at, now)
            await records.save_invoice(invoice)
            await records.save(after)
            paid = invoice.status is InvoiceStatus.PAID
            event = BillingEvent(INVOICE_PAID if paid else INVOICE_PAYMENT_FAILED, after, invoice)
            await records.announce(
                [event, *subscription_events(subscription, after)], self._clock()
            )
            return paid
