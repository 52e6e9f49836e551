"""The sandbox wallet's sessions: one decision each, none after the expiry, one notice per end."""

from __future__ import annotations

from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation
from core.domain.money import Money
from router.channels.wallet_book import ABANDONED, DECLINED, WalletBook

NOW = 1_800_000_000.0


def attempt(attempt_id: str = "att_1") -> Attempt:
    return Attempt(
        id=attempt_id,
        merchant_id="m",
        payment_id="pay_1",
        operation=ChannelOperation.AUTHORIZE,
        channel="redirect_wallet",
        amount=Money(1000, "USD"),
        return_url="https://shop.test/back",
    )


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


async def test_the_same_attempt_opens_one_session_with_the_page_and_its_expiry() -> None:
    book = WalletBook(b"secret", expiry_s=60, clock=Clock())
    book.page_url = "http://127.0.0.1:9/redirect_wallet"

    first, again = book.open(attempt()), book.open(attempt())

    assert first is again
    assert first.answer.outcome is AttemptOutcome.PENDING
    assert first.answer.redirect is not None
    assert first.answer.redirect.url == f"{book.page_url}/{first.reference}"
    assert first.answer.redirect.expires_at.timestamp() == NOW + 60
    await book.close()


async def test_only_the_first_decision_counts() -> None:
    book = WalletBook(b"secret", clock=Clock())
    session = book.open(attempt())

    book.decide(session.reference, approve=False)
    book.decide(session.reference, approve=True)

    assert session.answer.outcome is AttemptOutcome.DECLINED
    assert session.answer.failure == DECLINED
    assert session.notices == 1
    await book.close()


async def test_a_decision_past_the_expiry_finds_the_session_abandoned() -> None:
    clock = Clock()
    book = WalletBook(b"secret", expiry_s=60, clock=clock)
    session = book.open(attempt())
    clock.now = NOW + 61  # the expiry task has not run yet

    book.decide(session.reference, approve=True)

    assert session.answer.outcome is AttemptOutcome.FAILED
    assert session.answer.failure == ABANDONED
    assert session.notices == 1
    await book.close()


async def test_an_unknown_session_is_none() -> None:
    assert WalletBook(b"secret").decide("ws_nope", approve=True) is None
