"""Invoices and dunning (issue 20): one period's bill, its charges and its retries (pure).

Billing (core/service/billing.py) opens an invoice when a period is due and
charges it through the ordinary payment path. Statuses::

    DRAFT (not used by automatic billing: invoices are opened when due)
    OPEN --charge succeeded--> PAID
    OPEN --charge failed, retries left--> OPEN (next_attempt_at set)
    OPEN --last retry failed--> UNCOLLECTIBLE
    OPEN --subscription canceled--> VOID
    VOID --a charge in flight at the cancel succeeded--> PAID (the money moved)

Dunning: ``DunningSchedule.retry_days`` are days after the invoice's *first*
failed charge; the default ``(1, 3, 5, 7)`` retries one, three, five and seven
days after it, so an invoice is charged at most five times and gives up a week
after its first failure.

Each charge of an invoice is a CreatePayment whose request_id is
``charge_request_id(subscription, period start, attempt)``: a runner that dies
after charging and before recording the outcome charges again with the same
request_id and gets the first charge's reply instead of a second payment.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class InvoiceStatus(enum.Enum):
    """Where an invoice is (the module docstring draws the machine)."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    UNCOLLECTIBLE = "uncollectible"
    VOID = "void"


@dataclass(frozen=True, slots=True)
class DunningSchedule:
    """Days after an invoice's first failed charge when it is charged again."""

    retry_days: tuple[int, ...] = (1, 3, 5, 7)

    def __post_init__(self) -> None:
        days = self.retry_days
        if any(d < 1 for d in days) or list(days) != sorted(set(days)):
            raise ValueError("retry days must be increasing whole days of at least 1")

    @classmethod
    def of(cls, days: Sequence[int]) -> DunningSchedule:
        """A schedule from configuration."""
        return cls(tuple(days))


@dataclass(frozen=True, slots=True)
class Invoice:
    """One period of a subscription, billed."""

    id: str
    merchant_id: str
    subscription_id: str
    period_start: datetime
    period_end: datetime
    amount: int
    currency: str
    status: InvoiceStatus
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    """Charges made so far."""
    next_attempt_at: datetime | None = None
    first_failed_at: datetime | None = None
    payment_id: str = ""
    """The last charge's payment ("" before the first)."""
    failure_code: str = field(default="")
    """The last failed charge's code (``card_declined``...)."""


def opened(
    invoice_id: str,
    *,
    merchant_id: str,
    subscription_id: str,
    period: tuple[datetime, datetime],
    amount: int,
    currency: str,
    at: datetime,
) -> Invoice:
    """A new OPEN invoice, to be charged at once."""
    return Invoice(
        id=invoice_id,
        merchant_id=merchant_id,
        subscription_id=subscription_id,
        period_start=period[0],
        period_end=period[1],
        amount=amount,
        currency=currency,
        status=InvoiceStatus.OPEN,
        created_at=at,
        updated_at=at,
        next_attempt_at=at,
    )


def charge_request_id(subscription_id: str, period_start: datetime, attempt: int) -> str:
    """The request_id of charge ``attempt`` (1-based) of one period: the same on every re-run."""
    return f"billing:{subscription_id}:{period_start.strftime('%Y%m%dT%H%M%SZ')}:{attempt}"


def charge_due_at(invoice: Invoice) -> datetime:
    """When the invoice's next charge is due by its merchant's clock.

    The period's start for the first charge, then each dunning retry's time. A
    test clock that jumps months ahead is caught up one charge at a time, each as
    of the time it was due, so terms judged by time (a mandate's once a month)
    see the months that passed, not one instant.
    """
    if invoice.attempts and invoice.next_attempt_at is not None:
        return invoice.next_attempt_at
    return invoice.period_start


def charge_succeeded(invoice: Invoice, payment_id: str, at: datetime) -> Invoice:
    """The charge paid the invoice."""
    return dataclasses.replace(
        invoice,
        status=InvoiceStatus.PAID,
        attempts=invoice.attempts + 1,
        payment_id=payment_id,
        next_attempt_at=None,
        failure_code="",
        updated_at=at,
    )


def paid_without_charge(invoice: Invoice, at: datetime) -> Invoice:
    """An invoice of zero (credits covered it): paid, no payment made."""
    return dataclasses.replace(
        invoice, status=InvoiceStatus.PAID, next_attempt_at=None, updated_at=at
    )


def charge_failed(
    invoice: Invoice, payment_id: str, failure_code: str, schedule: DunningSchedule, at: datetime
) -> Invoice:
    """The charge failed: OPEN with the next retry, or UNCOLLECTIBLE after the schedule's last."""
    first_failed = invoice.first_failed_at or at
    retries_done = invoice.attempts  # charges before this one; the first was not a retry
    days = schedule.retry_days
    retry_at = None
    if retries_done < len(days):
        retry_at = max(first_failed + timedelta(days=days[retries_done]), at)
    return dataclasses.replace(
        invoice,
        status=InvoiceStatus.OPEN if retry_at is not None else InvoiceStatus.UNCOLLECTIBLE,
        attempts=invoice.attempts + 1,
        payment_id=payment_id,
        next_attempt_at=retry_at,
        first_failed_at=first_failed,
        failure_code=failure_code,
        updated_at=at,
    )


def voided(invoice: Invoice, at: datetime) -> Invoice:
    """An OPEN invoice of a subscription canceled before it was paid."""
    if invoice.status is not InvoiceStatus.OPEN:
        return invoice
    return dataclasses.replace(
        invoice, status=InvoiceStatus.VOID, next_attempt_at=None, updated_at=at
    )
