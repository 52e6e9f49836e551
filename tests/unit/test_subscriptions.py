"""The subscription state machine, dunning and invoices (pure rules of issue 20)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from core.domain import invoices as inv
from core.domain import subscriptions as subs
from core.domain.billing_periods import Interval
from core.domain.errors import IllegalTransitionError, Reason
from core.domain.invoices import DunningSchedule, InvoiceStatus
from core.domain.subscription_commands import CreatePrice, CreateSubscription, WhenDunningEnds
from core.domain.subscriptions import SubscriptionStatus

AT = datetime(2027, 3, 1, tzinfo=UTC)
MONTHLY = subs.new_price(CreatePrice("m", "Gold", 3000, "EUR", Interval.MONTH), "price_1", AT)


def _subscription(**price_fields: object) -> subs.Subscription:
    price = dataclasses.replace(MONTHLY, **price_fields)  # type: ignore[arg-type]
    return subs.new_subscription(CreateSubscription("m", "cus_1", price.id), price, "sub_1", AT)


def _paid_once() -> subs.Subscription:
    subscription = _subscription()
    return subs.paid(subscription, subscription.next_period(), AT)


def _invoice() -> inv.Invoice:
    period = (AT, AT + timedelta(days=31))
    return inv.opened(
        "in_1", merchant_id="m", subscription_id="sub_1", period=period, amount=3000,
        currency="EUR", at=AT,
    )  # fmt: skip


def test_without_a_trial_a_subscription_is_active_and_billed_at_its_start() -> None:
    subscription = _subscription()
    assert subscription.status is SubscriptionStatus.ACTIVE and subscription.is_active
    assert subscription.next_billing_at == AT
    assert subscription.next_period() == (AT, datetime(2027, 4, 1, tzinfo=UTC))


def test_a_trial_is_trialing_until_its_end_where_periods_start() -> None:
    subscription = _subscription(trial_days=14)
    assert subscription.status is SubscriptionStatus.TRIALING and subscription.is_active
    trial_end = AT + timedelta(days=14)
    assert subscription.next_billing_at == subscription.anchor == trial_end
    assert subscription.current_period_end == trial_end


def test_a_paid_invoice_makes_it_active_for_that_period_and_renews_at_its_end() -> None:
    subscription = _paid_once()
    assert subscription.status is SubscriptionStatus.ACTIVE
    assert subscription.periods_billed == 1
    assert subscription.next_billing_at == subscription.current_period_end
    assert subscription.next_period()[0] == subscription.current_period_end


def test_a_failed_charge_with_retries_left_is_past_due_and_not_active() -> None:
    retry = AT + timedelta(days=1)
    subscription = subs.payment_failed(_paid_once(), retry, AT)
    assert subscription.status is SubscriptionStatus.PAST_DUE and not subscription.is_active
    assert subscription.next_billing_at == retry


@pytest.mark.parametrize(
    ("choice", "status"),
    [
        (WhenDunningEnds.CANCEL, SubscriptionStatus.CANCELED),
        (WhenDunningEnds.MARK_UNPAID, SubscriptionStatus.UNPAID),
    ],
)
def test_the_last_failed_retry_ends_it_as_the_merchant_chose(
    choice: WhenDunningEnds, status: SubscriptionStatus
) -> None:
    subscription = dataclasses.replace(_paid_once(), when_dunning_ends=choice)
    ended = subs.payment_failed(subscription, None, AT)
    assert ended.status is status and ended.next_billing_at is None


def test_cancel_now_stops_billing_and_cancel_twice_is_refused() -> None:
    canceled = subs.canceled(_paid_once(), AT)
    assert canceled.status is SubscriptionStatus.CANCELED and canceled.next_billing_at is None
    with pytest.raises(IllegalTransitionError) as refused:
        subs.canceled(canceled, AT)
    assert refused.value.reason is Reason.SUBSCRIPTION_STATUS_CONFLICT


def test_cancel_at_period_end_keeps_it_active_until_the_renewal_ends_it() -> None:
    flagged = subs.canceled(_paid_once(), AT, at_period_end=True)
    assert flagged.status is SubscriptionStatus.ACTIVE and flagged.cancel_at_period_end
    assert subs.ends_at_renewal(flagged)
    assert not subs.ends_at_renewal(_paid_once())


def test_pause_stops_billing_and_resume_starts_a_new_period_billed_at_once() -> None:
    paused = subs.paused(_paid_once(), AT)
    assert paused.status is SubscriptionStatus.PAUSED and paused.next_billing_at is None
    later = AT + timedelta(days=10)
    resumed = subs.resumed(paused, later)
    assert resumed.status is SubscriptionStatus.ACTIVE
    assert resumed.next_billing_at == resumed.anchor == later
    assert resumed.next_period()[0] == later


def test_only_active_or_trialing_pauses_and_only_paused_resumes() -> None:
    past_due = subs.payment_failed(_paid_once(), AT + timedelta(days=1), AT)
    for refused_change in (lambda: subs.paused(past_due, AT), lambda: subs.resumed(past_due, AT)):
        with pytest.raises(IllegalTransitionError):
            refused_change()


def test_a_mid_period_upgrade_adds_the_prorated_difference_to_the_next_invoice() -> None:
    subscription = _paid_once()  # March: 31 days
    half = subscription.current_period_start + timedelta(days=15, hours=12)
    gold_plus = dataclasses.replace(MONTHLY, id="price_2", amount=6000)
    upgraded = subs.changed(subscription, gold_plus, 1, half)
    assert upgraded.pending_proration == 1500  # half a month of 3000 more
    assert subs.renewal_amount(upgraded) == (7500, 0)


def test_a_downgrade_credit_larger_than_the_invoice_is_carried_on() -> None:
    subscription = _paid_once()
    free = dataclasses.replace(MONTHLY, id="price_0", amount=0)
    downgraded = subs.changed(subscription, dataclasses.replace(MONTHLY, amount=3000), 10, AT)
    downgraded = subs.changed(downgraded, free, 1, AT)
    assert subs.renewal_amount(downgraded) == (0, -3000)
    assert subs.billed(downgraded, AT).pending_proration == -3000


def test_a_trialing_subscription_changes_without_proration() -> None:
    dearer = dataclasses.replace(MONTHLY, amount=9000)
    upgraded = subs.changed(_subscription(trial_days=7), dearer, 2, AT)
    assert upgraded.pending_proration == 0 and upgraded.quantity == 2


def test_a_change_to_another_interval_or_currency_is_refused() -> None:
    yearly = dataclasses.replace(MONTHLY, id="price_y", interval=Interval.YEAR)
    with pytest.raises(IllegalTransitionError) as refused:
        subs.changed(_paid_once(), yearly, 1, AT)
    assert refused.value.reason is Reason.SUBSCRIPTION_PRICE_MISMATCH


def test_a_new_card_retries_a_past_due_subscription_at_once() -> None:
    past_due = subs.payment_failed(_paid_once(), AT + timedelta(days=3), AT)
    later = AT + timedelta(hours=2)
    assert subs.payment_method_changed(past_due, "tok_2", later).next_billing_at == later
    active = subs.payment_method_changed(_paid_once(), "tok_2", later)
    assert active.next_billing_at == _paid_once().next_billing_at


def test_dunning_retries_after_1_3_5_7_days_from_the_first_failure_then_gives_up() -> None:
    schedule = DunningSchedule()
    invoice, at = _invoice(), AT
    retries = []
    for _ in range(5):
        invoice = inv.charge_failed(invoice, "pay_x", "card_declined", schedule, at)
        retries.append(invoice.next_attempt_at)
        at = invoice.next_attempt_at or at
    assert retries[:4] == [AT + timedelta(days=d) for d in (1, 3, 5, 7)]
    assert retries[4] is None
    assert invoice.status is InvoiceStatus.UNCOLLECTIBLE and invoice.attempts == 5


def test_a_paid_invoice_records_its_payment_and_a_void_one_only_from_open() -> None:
    paid = inv.charge_succeeded(_invoice(), "pay_1", AT)
    assert (paid.status, paid.payment_id, paid.attempts) == (InvoiceStatus.PAID, "pay_1", 1)
    assert inv.voided(paid, AT) is paid
    assert inv.voided(_invoice(), AT).status is InvoiceStatus.VOID


def test_a_dunning_schedule_must_increase() -> None:
    with pytest.raises(ValueError):
        DunningSchedule((3, 1))
    with pytest.raises(ValueError):
        DunningSchedule((0,))


def test_a_charge_request_id_is_the_same_for_one_period_and_attempt() -> None:
    first = inv.charge_request_id("sub_1", AT, 1)
    assert first == inv.charge_request_id("sub_1", AT, 1)
    assert first != inv.charge_request_id("sub_1", AT, 2)
    assert first != inv.charge_request_id("sub_1", AT + timedelta(days=31), 1)
