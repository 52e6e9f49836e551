"""The authentication step between risk and routing, over an in-memory issuer and vault."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.domain.authentication import Enrollment
from core.domain.commands import CardInput
from core.domain.payment import PaymentState
from core.service.card_vault import CardVault
from core.service.execution import RequestExecutor
from core.service.payments.three_ds import ThreeDSecure, ThreeDSSettings
from core.vault.keyring import Keyring
from tests.support.memory import MemoryRequestGate
from tests.support.memory_repository import MemoryRepository
from tests.support.payment_builders import APPROVED, T1, make_payment
from tests.support.requests import EXP_YEAR, VISA

CARD = CardInput(VISA, 12, EXP_YEAR, "123")
RETURN_URL = "https://shop.test/back"


class Directory:
    """A directory server that answers ``enrollment`` for every card, and counts the questions."""

    def __init__(self, enrollment: Enrollment, *, serves_pages: bool = True) -> None:
        self.answer = enrollment
        self.asked = 0
        self.serves_pages = serves_pages

    async def enrollment(self, card: CardInput) -> Enrollment:
        self.asked += 1
        return self.answer

    def challenge_url(self, payment_id: str, enrollment: Enrollment) -> str:
        if not self.serves_pages:
            return ""
        return f"http://acs.test/{payment_id}/{enrollment.value}"


@pytest.fixture
def vault(
    executor: RequestExecutor, repository: MemoryRepository, gate: MemoryRequestGate
) -> CardVault:
    return CardVault(
        executor=executor,
        repository=repository,
        gate=gate,
        keyring=Keyring({"k1": bytes(range(32))}, "k1"),
        fingerprint_key="test-fingerprint-key",
    )


def three_ds(directory: Directory, vault: CardVault) -> ThreeDSecure:
    return ThreeDSecure(
        directory=directory, vault=vault, settings=ThreeDSSettings(challenge_expiry_s=90)
    )


async def test_a_frictionless_answer_goes_on_to_routing_authenticated(vault: CardVault) -> None:
    step = three_ds(Directory(Enrollment.FRICTIONLESS), vault)

    payment = await step.authenticate(make_payment(), APPROVED, CARD, T1, "")

    assert payment.state is PaymentState.REQUIRES_CONFIRMATION
    assert payment.authentication is not None
    assert payment.authentication.liability_shift


async def test_a_card_outside_3ds_goes_on_unchanged(vault: CardVault) -> None:
    before = make_payment()

    after = await three_ds(Directory(Enrollment.NOT_ENROLLED), vault).authenticate(
        before, APPROVED, CARD, T1, RETURN_URL
    )

    assert after == before


async def test_a_payment_without_a_card_never_asks_the_issuer(vault: CardVault) -> None:
    directory = Directory(Enrollment.CHALLENGE)

    await three_ds(directory, vault).authenticate(make_payment(), APPROVED, None, T1, RETURN_URL)

    assert directory.asked == 0


@pytest.mark.parametrize("enrollment", [Enrollment.CHALLENGE, Enrollment.CHALLENGE_FAILS])
async def test_a_challenge_sends_the_customer_to_the_issuers_page_until_the_deadline(
    vault: CardVault, enrollment: Enrollment
) -> None:
    payment = await three_ds(Directory(enrollment), vault).authenticate(
        make_payment(), APPROVED, CARD, T1, RETURN_URL
    )

    assert payment.state is PaymentState.REQUIRES_ACTION
    assert payment.next_action is not None
    assert payment.next_action.redirect is not None
    assert payment.next_action.redirect.url == f"http://acs.test/{payment.id}/{enrollment.value}"
    assert payment.next_action.redirect.return_url == RETURN_URL
    assert payment.next_action.expires_at == T1 + timedelta(seconds=90)


async def test_a_challenge_with_nowhere_to_return_is_declined(vault: CardVault) -> None:
    payment = await three_ds(Directory(Enrollment.CHALLENGE), vault).authenticate(
        make_payment(), APPROVED, CARD, T1, ""
    )

    assert payment.state is PaymentState.DECLINED
    assert payment.failure is not None
    assert payment.failure.code == "authentication_required"


async def test_a_challenge_with_no_page_to_show_is_declined(vault: CardVault) -> None:
    directory = Directory(Enrollment.CHALLENGE, serves_pages=False)

    payment = await three_ds(directory, vault).authenticate(
        make_payment(), APPROVED, CARD, T1, RETURN_URL
    )

    assert payment.state is PaymentState.DECLINED
    assert payment.failure is not None
    assert payment.failure.code == "authentication_required"


async def test_a_challenged_card_waits_sealed_in_the_vault(
    vault: CardVault, repository: MemoryRepository
) -> None:
    step = three_ds(Directory(Enrollment.CHALLENGE), vault)
    payment = await step.authenticate(make_payment(), APPROVED, CARD, T1, RETURN_URL)

    async with repository.transaction() as tx:
        await step.record(tx, payment, CARD, "", T1)

    token = repository.state.challenge_cards[(payment.merchant_id, payment.id)]
    assert token.startswith("tok_")
    async with repository.transaction() as tx:
        _, revealed = await vault.reveal(tx, payment.merchant_id, token)
    # As for a payment held for review: never the CVC (what is sealed is what may be kept).
    assert (revealed.number, revealed.exp_month, revealed.exp_year) == (VISA, 12, EXP_YEAR)
    assert revealed.cvc == ""


async def test_a_challenged_token_payment_keeps_its_own_token(
    vault: CardVault, repository: MemoryRepository
) -> None:
    step = three_ds(Directory(Enrollment.CHALLENGE), vault)
    payment = await step.authenticate(make_payment(), APPROVED, CARD, T1, RETURN_URL)

    async with repository.transaction() as tx:
        await step.record(tx, payment, CARD, "tok_given", T1)

    assert repository.state.challenge_cards[(payment.merchant_id, payment.id)] == "tok_given"
    assert repository.state.card_tokens == {}  # nothing sealed again


async def test_nothing_is_recorded_for_a_card_outside_3ds(
    vault: CardVault, repository: MemoryRepository
) -> None:
    async with repository.transaction() as tx:
        await three_ds(Directory(Enrollment.NOT_ENROLLED), vault).record(
            tx, make_payment(), CARD, "", T1
        )

    assert repository.state.challenge_cards == {}
    assert repository.state.card_tokens == {}
