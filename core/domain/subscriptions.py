"""Prices and subscriptions (issue 20): values, commands and the state machine (pure).

A **price** is what a product costs per period: an amount in minor units, a
currency, an interval (``count`` days, weeks, months or years) and the trial
days a new subscription gets. A **subscription** bills one customer for
``quantity`` of one price, each period, either under a **mandate** (the
customer's consent to merchant-initiated charges, core/domain/mandates.py:
each renewal is an off-session charge the channel gets with the mandate's
agreement id) or with a card token (its own, else the customer's default
payment method at the time of the charge). A subscription has one or the
other: giving it a mandate clears its card token, giving it a card token (or
"" for the customer's default) clears its mandate.

Statuses and what moves them (``SubscriptionStatus``)::

    create --trial--> TRIALING --invoice paid--> ACTIVE
    create ---------> ACTIVE   (its first invoice is due at once)
    ACTIVE | TRIALING | PAST_DUE --invoice paid--> ACTIVE (next period)
    ACTIVE | TRIALING | PAST_DUE --charge failed, retries left--> PAST_DUE
    ACTIVE | TRIALING | PAST_DUE --last retry failed--> CANCELED or UNPAID (merchant's choice)
    ACTIVE | TRIALING --pause--> PAUSED --resume--> ACTIVE (a new period from the resume)
    any but CANCELED --cancel now--> CANCELED
    cancel at period end: the flag; at the next renewal --> CANCELED instead of an invoice

A member is active (``is_active``) while TRIALING or ACTIVE: a PAST_DUE
subscription is being dunned and gives no access until a retry succeeds.

Proration (``UpdateSubscription`` of price or quantity): the unused part of the
current period is credited at the old amount and charged at the new one, both
by ``billing_periods.prorated`` (to the second, rounded half up); the
difference is added to the next invoice (negative: a credit that lowers it, an
invoice never below zero, the rest carried on). The period itself does not
change; a trialing subscription is not prorated (it paid nothing yet).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain.billing_periods import Interval, period_bounds, prorated
from core.domain.errors import FieldViolation, IllegalTransitionError, Reason, ValidationError
from core.domain.mandates import Frequency
from core.domain.mandates import Interval as MandateInterval
from core.domain.money import MAX_AMOUNT_MINOR
from core.domain.subscription_commands import CreatePrice, CreateSubscription, WhenDunningEnds


class SubscriptionStatus(enum.Enum):
    """Where a subscription is in its life (the module docstring draws the machine)."""

    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    CANCELED = "canceled"
    UNPAID = "unpaid"


@dataclass(frozen=True, slots=True)
class Price:
    """A product's price per period."""

    id: str
    merchant_id: str
    product_name: str
    amount: int
    """Minor units per period, per unit of quantity."""
    currency: str
    interval: Interval
    interval_count: int
    trial_days: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Subscription:
    """One customer's subscription to one price."""

    id: str
    merchant_id: str
    customer_id: str
    price: Price
    quantity: int
    payment_method: str
    """A card token (``tok_...``); "" charges the customer's default payment method
    (or, with ``mandate_id``, nothing: the mandate names the card)."""
    status: SubscriptionStatus
    anchor: datetime
    """Where periods are counted from (the start, or the end of the trial)."""
    periods_billed: int
    """Periods paid for; the next invoice bills period ``periods_billed``."""
    current_period_start: datetime
    current_period_end: datetime
    next_billing_at: datetime | None
    """When billing next acts (a renewal or a retry); None: it has nothing to do."""
    when_dunning_ends: WhenDunningEnds
    created_at: datetime
    updated_at: datetime
    cancel_at_period_end: bool = False
    pending_proration: int = 0
    """Minor units the next invoice adds (negative: a credit) for changes made mid-period."""
    canceled_at: datetime | None = None
    mandate_id: str = ""
    """The mandate (``man_...``) renewals are charged under, merchant-initiated; "" for none."""

    @property
    def is_active(self) -> bool:
        """Whether the member has access now (TRIALING or ACTIVE)."""
        return self.status in (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE)

    def next_period(self) -> tuple[datetime, datetime]:
        """The period the next invoice bills."""
        price = self.price
        return period_bounds(self.anchor, price.interval, price.interval_count, self.periods_billed)


_LIVE = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


def _refuse(subscription: Subscription, action: str) -> IllegalTransitionError:
    return IllegalTransitionError(
        Reason.SUBSCRIPTION_STATUS_CONFLICT,
        subscription_id=subscription.id,
        status=subscription.status.value,
        action=action,
    )


def membership_of(subscriptions: Sequence[Subscription]) -> Subscription | None:
    """Which of a customer's subscriptions answers for its membership: an active one, else
    the first given (the newest, as listings give them); None for none."""
    for subscription in subscriptions:
        if subscription.is_active:
            return subscription
    return subscriptions[0] if subscriptions else None


def new_price(command: CreatePrice, price_id: str, at: datetime) -> Price:
    """The price ``command`` creates."""
    return Price(
        id=price_id,
        merchant_id=command.merchant_id,
        product_name=command.product_name,
        amount=command.amount,
        currency=command.currency,
        interval=command.interval,
        interval_count=command.interval_count,
        trial_days=command.trial_days,
        created_at=at,
    )


BACKDATING_TOLERANCE = timedelta(hours=1)
"""How far before now a start may be (a caller's clock behind): billing charges
every period from the start, so an older one would charge for periods long over."""


def _check_period_amount(price: Price, quantity: int) -> None:
    # A period's charge is one payment: beyond the largest amount, every renewal
    # would fail to be invoiced, leaving the subscription active and never charged.
    if price.amount * quantity > MAX_AMOUNT_MINOR:
        raise ValidationError(
            [
                FieldViolation(
                    "quantity",
                    f"price x quantity must be at most {MAX_AMOUNT_MINOR} minor units a period",
                )
            ]
        )


def new_subscription(
    command: CreateSubscription, price: Price, subscription_id: str, at: datetime
) -> Subscription:
    """The subscription ``command`` creates at ``at``; billing takes it from there.

    Refused (INVALID_ARGUMENT): a start more than ``BACKDATING_TOLERANCE`` before
    ``at`` (the merchant's clock), and a period amount beyond the largest payment.
    """
    if command.start is not None and command.start < at - BACKDATING_TOLERANCE:
        raise ValidationError(
            [FieldViolation("start_time", "must not be in the past (by the merchant's clock)")]
        )
    _check_period_amount(price, command.quantity)
    start = command.start or at
    trial_end = start + timedelta(days=price.trial_days)
    if price.trial_days:
        status, period = SubscriptionStatus.TRIALING, (start, trial_end)
    else:
        status = SubscriptionStatus.ACTIVE
        period = period_bounds(start, price.interval, price.interval_count, 0)
    return Subscription(
        id=subscription_id,
        merchant_id=command.merchant_id,
        customer_id=command.customer_id,
        price=price,
        quantity=command.quantity,
        payment_method=command.payment_method,
        mandate_id=command.mandate_id,
        status=status,
        anchor=trial_end,
        periods_billed=0,
        current_period_start=period[0],
        current_period_end=period[1],
        next_billing_at=trial_end,
        when_dunning_ends=command.when_dunning_ends,
        created_at=at,
        updated_at=at,
    )


def renewal_frequency(price: Price) -> Frequency:
    """How often ``price`` renews, as a mandate's frequency (the same four units)."""
    return Frequency(MandateInterval(price.interval.value), price.interval_count)


def period_amount(subscription: Subscription) -> int:
    """What one period costs at its price and quantity (before proration): the charge
    a mandate must allow."""
    return subscription.price.amount * subscription.quantity


def renewal_amount(subscription: Subscription) -> tuple[int, int]:
    """The next invoice's amount, and the proration left over (a credit larger than it)."""
    total = period_amount(subscription) + subscription.pending_proration
    return max(total, 0), min(total, 0)


def billed(subscription: Subscription, at: datetime) -> Subscription:
    """Its next invoice was created: the proration is on the invoice now (bar a carried credit)."""
    _, carried = renewal_amount(subscription)
    return dataclasses.replace(subscription, pending_proration=carried, updated_at=at)


def paid(
    subscription: Subscription, period: tuple[datetime, datetime], at: datetime
) -> Subscription:
    """The invoice of ``period`` was paid: ACTIVE for that period, next renewal at its end."""
    return dataclasses.replace(
        subscription,
        status=SubscriptionStatus.ACTIVE,
        periods_billed=subscription.periods_billed + 1,
        current_period_start=period[0],
        current_period_end=period[1],
        next_billing_at=period[1],
        updated_at=at,
    )


def payment_failed(
    subscription: Subscription, retry_at: datetime | None, at: datetime
) -> Subscription:
    """A charge failed: PAST_DUE until ``retry_at``, or (None: no retry left) the end of dunning."""
    if retry_at is not None:
        return dataclasses.replace(
            subscription,
            status=SubscriptionStatus.PAST_DUE,
            next_billing_at=retry_at,
            updated_at=at,
        )
    final = SubscriptionStatus(subscription.when_dunning_ends.value)
    return dataclasses.replace(
        subscription,
        status=final,
        next_billing_at=None,
        canceled_at=at if final is SubscriptionStatus.CANCELED else None,
        updated_at=at,
    )


def ends_at_renewal(subscription: Subscription) -> bool:
    """Whether the renewal due now ends the subscription instead (cancel at period end)."""
    return (
        subscription.cancel_at_period_end and subscription.status is not SubscriptionStatus.PAST_DUE
    )


def canceled(
    subscription: Subscription, at: datetime, *, at_period_end: bool = False
) -> Subscription:
    """Cancel now (CANCELED, billing stops) or flag the end of the current period."""
    if subscription.status is SubscriptionStatus.CANCELED:
        raise _refuse(subscription, "canceled")
    if at_period_end and subscription.status in _LIVE:
        return dataclasses.replace(subscription, cancel_at_period_end=True, updated_at=at)
    return dataclasses.replace(
        subscription,
        status=SubscriptionStatus.CANCELED,
        next_billing_at=None,
        canceled_at=at,
        updated_at=at,
    )


def paused(subscription: Subscription, at: datetime) -> Subscription:
    """Pause billing (ACTIVE or TRIALING only): no invoice until resumed."""
    if subscription.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING):
        raise _refuse(subscription, "paused")
    return dataclasses.replace(
        subscription, status=SubscriptionStatus.PAUSED, next_billing_at=None, updated_at=at
    )


def resumed(subscription: Subscription, at: datetime) -> Subscription:
    """Resume a PAUSED subscription: periods count again from ``at``, the first billed at once."""
    if subscription.status is not SubscriptionStatus.PAUSED:
        raise _refuse(subscription, "resumed")
    price = subscription.price
    period = period_bounds(at, price.interval, price.interval_count, 0)
    return dataclasses.replace(
        subscription,
        status=SubscriptionStatus.ACTIVE,
        anchor=at,
        periods_billed=0,
        current_period_start=period[0],
        current_period_end=period[1],
        next_billing_at=at,
        updated_at=at,
    )


def changed(subscription: Subscription, price: Price, quantity: int, at: datetime) -> Subscription:
    """A new price or quantity from ``at``, prorated (module docstring); same interval, currency."""
    if subscription.status not in _LIVE:
        raise _refuse(subscription, "changed")
    old = subscription.price
    if (price.interval, price.interval_count, price.currency) != (
        old.interval,
        old.interval_count,
        old.currency,
    ):
        raise IllegalTransitionError(
            Reason.SUBSCRIPTION_PRICE_MISMATCH, subscription_id=subscription.id, price_id=price.id
        )
    _check_period_amount(price, quantity)
    adjustment = 0
    if subscription.status is not SubscriptionStatus.TRIALING:
        start, end = subscription.current_period_start, subscription.current_period_end
        credit = prorated(old.amount * subscription.quantity, start, end, at)
        adjustment = prorated(price.amount * quantity, start, end, at) - credit
    return dataclasses.replace(
        subscription,
        price=price,
        quantity=quantity,
        pending_proration=subscription.pending_proration + adjustment,
        updated_at=at,
    )


def payment_method_changed(
    subscription: Subscription, token_id: str, at: datetime, *, mandate_id: str = ""
) -> Subscription:
    """A new card token, or a mandate (``mandate_id``; the token then is ""); a PAST_DUE
    subscription retries its open invoice at once with it."""
    if subscription.status in (SubscriptionStatus.CANCELED, SubscriptionStatus.UNPAID):
        raise _refuse(subscription, "changed")
    retry = (
        at if subscription.status is SubscriptionStatus.PAST_DUE else subscription.next_billing_at
    )
    return dataclasses.replace(
        subscription,
        payment_method=token_id,
        mandate_id=mandate_id,
        next_billing_at=retry,
        updated_at=at,
    )
