"""The card vault's use cases, run by the real request executor over in-memory adapters.

No server: the repository, the request gate and the channel are the in-memory ones of
tests/support/memory*.py, so what is tested is core/service/card_vault.py and
core/service/execution.py themselves: a card is stored once per request_id, however
often the request is repeated and whatever the gate remembers.
"""

from __future__ import annotations

import pytest

from core.domain.commands import CardInput, TokenizeCard
from core.domain.errors import NotFoundError, PaycoreError, Reason
from core.gate import Admission
from core.service.card_vault import CardVault
from core.service.execution import (
    Encoder,
    Reply,
    RequestExecutor,
    RequestIdentity,
)
from core.vault.keyring import Keyring
from core.vault.records import CardToken
from tests.support.memory import MemoryRequestGate
from tests.support.memory_repository import MemoryRepository
from tests.support.requests import EXP_YEAR, VISA, new_request_id

MERCHANT = "m_vault"
KEYS = {"k_old": bytes(range(32)), "k_new": bytes(range(32, 64))}
CARD = CardInput(VISA, 12, EXP_YEAR, cvc="123", holder_name="Ada Lovelace")
OTHER_CARD = CardInput("5555555555554444", 1, EXP_YEAR, cvc="456", holder_name="Alan Turing")

ENCODER: Encoder[CardToken] = Encoder(
    success=lambda token: token.id.encode(),
    failure=lambda error: error.reason.name.encode(),
)
"""Replies as token ids (the API layer's protobuf encoding is not under test here)."""


def card_vault(
    executor: RequestExecutor,
    repository: MemoryRepository,
    gate: MemoryRequestGate,
    active_key: str = "k_old",
) -> CardVault:
    """The card vault wired as core/app.py wires it, sealing new cards under ``active_key``."""
    return CardVault(
        executor=executor,
        repository=repository,
        gate=gate,
        keyring=Keyring(KEYS, active_key),
        fingerprint_key="test-fingerprint-key",
    )


@pytest.fixture
def vault(
    executor: RequestExecutor, repository: MemoryRepository, gate: MemoryRequestGate
) -> CardVault:
    """The card vault over the in-memory adapters (tests/application/conftest.py)."""
    return card_vault(executor, repository, gate)


async def tokenize(vault: CardVault, card: CardInput, request: RequestIdentity) -> Reply:
    """TokenizeCard for MERCHANT."""
    return await vault.tokenize(TokenizeCard(MERCHANT, card), request, ENCODER)


def request_of(card: CardInput, request_id: str | None = None) -> RequestIdentity:
    """A TokenizeCard's identity: its request_id, and a fingerprint of what it asks."""
    return RequestIdentity(request_id or new_request_id(), repr(card.number).encode())


async def test_a_card_is_kept_masked_and_revealed_whole_only_to_pay(
    vault: CardVault, repository: MemoryRepository
) -> None:
    reply = await tokenize(vault, CARD, request_of(CARD))

    assert reply.ok
    token_id = reply.body.decode()
    token = await vault.get_token(MERCHANT, token_id)
    assert (token.card.brand, token.card.last4, token.card.exp_year) == ("visa", "4242", EXP_YEAR)
    async with repository.transaction() as tx:
        shown, card = await vault.reveal(tx, MERCHANT, token_id)
    assert shown == token
    assert card == CardInput(VISA, 12, EXP_YEAR, cvc="", holder_name="Ada Lovelace")


async def test_a_repeated_request_id_replays_the_same_token_and_keeps_one_card(
    vault: CardVault, repository: MemoryRepository, gate: MemoryRequestGate
) -> None:
    request = request_of(CARD)

    first = await tokenize(vault, CARD, request)
    again = await tokenize(vault, CARD, request)

    assert again == first
    assert len(repository.state.card_tokens) == 1
    assert [admission for *_, admission in gate.admitted] == [Admission.NEW, Admission.SEEN]


async def test_a_repeat_the_gate_forgot_is_replayed_from_the_stored_request(
    vault: CardVault, repository: MemoryRepository, gate: MemoryRequestGate
) -> None:
    request = request_of(CARD)
    first = await tokenize(vault, CARD, request)

    gate.forget()  # Redis flushed: only the repository's record guards the request_id
    again = await tokenize(vault, CARD, request)

    assert again == first
    assert len(repository.state.card_tokens) == 1


@pytest.mark.parametrize("gate_remembers", [True, False])
async def test_a_request_id_reused_for_another_card_is_refused(
    vault: CardVault, repository: MemoryRepository, gate: MemoryRequestGate, gate_remembers: bool
) -> None:
    request_id = new_request_id()
    await tokenize(vault, CARD, request_of(CARD, request_id))
    if not gate_remembers:
        gate.forget()

    with pytest.raises(PaycoreError) as refused:
        await tokenize(vault, OTHER_CARD, request_of(OTHER_CARD, request_id))

    assert refused.value.reason is Reason.IDEMPOTENCY_KEY_REUSED
    assert len(repository.state.card_tokens) == 1


async def test_a_token_of_another_merchant_is_not_found(vault: CardVault) -> None:
    token_id = (await tokenize(vault, CARD, request_of(CARD))).body.decode()

    with pytest.raises(NotFoundError) as unknown:
        await vault.get_token("m_other", token_id)

    assert unknown.value.reason is Reason.CARD_TOKEN_NOT_FOUND


async def test_rotation_rewraps_every_card_under_the_active_key_in_batches(
    vault: CardVault,
    executor: RequestExecutor,
    repository: MemoryRepository,
    gate: MemoryRequestGate,
) -> None:
    tokens = [
        (await tokenize(vault, card, request_of(card))).body.decode() for card in (CARD, OTHER_CARD)
    ]
    rotated = card_vault(executor, repository, gate, active_key="k_new")

    assert [await rotated.rotate(batch_size=1) for _ in range(3)] == [1, 1, 0]

    assert {row.sealed.key_id for row in repository.state.card_tokens.values()} == {"k_new"}
    async with repository.transaction() as tx:
        revealed = [(await rotated.reveal(tx, MERCHANT, token))[1].number for token in tokens]
    assert revealed == [CARD.number, OTHER_CARD.number]
