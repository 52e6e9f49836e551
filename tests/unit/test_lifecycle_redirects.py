"""A redirect wallet payment's transitions: to the wallet's page, then approved, declined,
abandoned; late and repeated answers."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.domain import lifecycle
from core.domain.attempt import (
    CUSTOMER_ABANDONED,
    Attempt,
    ChannelOperation,
    ChannelResult,
    CustomerRedirect,
)
from core.domain.authentication import DisplayQrCode, RedirectToUrl
from core.domain.errors import PaycoreError, Reason
from core.domain.evolve import evolve
from core.domain.payment import CaptureMethod, Failure, Payment, RedirectWalletDetails
from tests.support.payment_builders import APPROVED, T0, T1, T2, O, S, make_payment, result

WALLET = RedirectWalletDetails(provider="sandbox_pay", return_url="https://shop.test/back")
PAGE = CustomerRedirect("http://127.0.0.1:9/wallet/ws_1", expires_at=T0 + timedelta(minutes=15))
SHOWN = ChannelResult(O.PENDING, reference="ws_1", redirect=PAGE)
ABANDONED = Failure(CUSTOMER_ABANDONED, "The customer did not decide in time.")


def sent(capture_method: CaptureMethod = CaptureMethod.AUTOMATIC) -> Payment:
    payment = evolve(make_payment(capture_method=capture_method), redirect_wallet=WALLET)
    return lifecycle.begin_authorization(payment, APPROVED, "redirect_wallet", T0)


def shown(capture_method: CaptureMethod = CaptureMethod.AUTOMATIC) -> Payment:
    return lifecycle.complete_authorization(sent(capture_method), SHOWN, T1)


def test_the_wallets_page_puts_the_payment_in_requires_action_with_its_redirect() -> None:
    payment = shown()
    assert payment.state is S.REQUIRES_ACTION
    assert payment.next_action is not None
    assert payment.next_action.redirect == RedirectToUrl(PAGE.url, WALLET.return_url)
    assert payment.next_action.expires_at == PAGE.expires_at
    assert payment.operation_in_flight == "authorize"  # the wallet holds the attempt
    assert payment.channel_reference == "ws_1"
    assert lifecycle.awaits_wallet_customer(payment)


@pytest.mark.parametrize(
    ("capture_method", "state"),
    [(CaptureMethod.AUTOMATIC, S.CAPTURED), (CaptureMethod.MANUAL, S.AUTHORIZED)],
)
def test_an_approval_settles_the_payment_and_closes_the_action(
    capture_method: CaptureMethod, state: S
) -> None:
    payment = lifecycle.complete_authorization(
        shown(capture_method), result(O.SUCCEEDED, "ws_1"), T2
    )
    assert payment.state is state
    assert payment.next_action is None
    assert payment.operation_in_flight == ""


def test_a_decline_on_the_wallets_page_declines_the_payment() -> None:
    declined = Failure("wallet_declined", "The customer declined the payment in the wallet.")
    payment = lifecycle.complete_authorization(shown(), result(O.DECLINED, failure=declined), T2)
    assert payment.state is S.DECLINED
    assert payment.failure == declined
    assert payment.next_action is None


def test_an_expiry_the_wallet_reports_cancels_the_payment() -> None:
    payment = lifecycle.complete_authorization(shown(), result(O.FAILED, failure=ABANDONED), T2)
    assert payment.state is S.CANCELED
    assert payment.failure == ABANDONED
    assert payment.next_action is None
    assert payment.amount_captured.amount == 0


def test_a_card_attempt_failing_with_the_same_code_is_not_canceled() -> None:
    card = lifecycle.begin_authorization(make_payment(), APPROVED, "acquirer_a", T0)
    payment = lifecycle.complete_authorization(card, result(O.FAILED, failure=ABANDONED), T1)
    assert payment.state is S.FAILED


def test_a_pending_answer_again_leaves_the_customer_on_the_page() -> None:
    payment = shown()
    assert lifecycle.complete_authorization(payment, SHOWN, T2).next_action == payment.next_action
    still = lifecycle.complete_authorization(payment, result(O.PENDING), T2)
    assert still.state is S.REQUIRES_ACTION
    assert still.next_action == payment.next_action


def test_the_late_answer_of_a_notification_or_status_query_settles_it_once() -> None:
    payment = shown()
    attempt = Attempt(
        id="att_1",
        merchant_id=payment.merchant_id,
        payment_id=payment.id,
        operation=ChannelOperation.AUTHORIZE,
        channel="redirect_wallet",
        amount=payment.amount,
    )
    settled = lifecycle.resolve_attempt(payment, attempt, result(O.SUCCEEDED), T2)
    assert settled.state is S.CAPTURED
    assert not lifecycle.awaits_answer(settled, attempt)
    with pytest.raises(ValueError, match="nothing in flight"):
        lifecycle.resolve_attempt(settled, attempt, result(O.FAILED, failure=ABANDONED), T2)


def test_a_wallet_payment_is_no_3ds_challenge_and_cannot_be_canceled_while_shown() -> None:
    payment = shown()
    assert not lifecycle.challenge_open(payment)
    # The wallet holds the attempt: only its answer (or its expiry) ends the payment.
    for operation in ("cancel", "capture", "refund"):
        with pytest.raises(PaycoreError) as raised:
            lifecycle.require(payment, operation)
        assert raised.value.reason is Reason.WALLET_CUSTOMER_PENDING


def test_a_redirect_answer_for_a_payment_of_another_method_is_refused() -> None:
    card = lifecycle.begin_authorization(make_payment(), APPROVED, "acquirer_a", T0)
    with pytest.raises(ValueError, match="not a redirect wallet"):
        lifecycle.complete_authorization(card, SHOWN, T1)


def test_a_qr_wallet_payment_shows_the_wallets_page_as_a_qr_code() -> None:
    qr = evolve(WALLET, return_url="", scan_qr=True)
    payment = lifecycle.begin_authorization(
        evolve(make_payment(), redirect_wallet=qr), APPROVED, "qr_wallet", T0
    )

    shown_qr = lifecycle.complete_authorization(payment, SHOWN, T1)

    assert shown_qr.state is S.REQUIRES_ACTION
    assert shown_qr.method == "qr_wallet"
    assert shown_qr.next_action is not None
    assert shown_qr.next_action.redirect is None
    assert shown_qr.next_action.qr_code == DisplayQrCode(PAGE.url)
    assert shown_qr.next_action.target == PAGE.url
    abandoned = lifecycle.complete_authorization(shown_qr, result(O.FAILED, failure=ABANDONED), T2)
    assert abandoned.state is S.CANCELED
