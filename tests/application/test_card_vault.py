"""The card vault's use cases, run by the real request executor over in-memory adapters.

No server: the repository, the request gate and the channel are the in-memory ones of
tests/support/memory*.py, so what is tested is core/service/card_vault.py and
core/service/execution.py themselves: a card is stored once per request_id, however
often the request is repeated and whatever the gate remembers.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.domain.commands import CardInput, TokenizeCard
from core.domain.errors import NotFoundError, PaycoreError, Reason
from core.gate import Admission
from core.service.card_vault import CardVault
from core.service.execution import (
    Encoder,
    ExecutorSettings,
    Reply,
    RequestExecutor,
    RequestIdentity,
)
from core.vault.keyring import Keyring
from core.vault.records import CardToken
from router import Router
from tests.support.memory import MemoryChannel, MemoryRequestGate
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


@dataclass
class Vault:
    """A CardVault over in-memory storage and gate, and what it talks to."""

    vault: CardVault
    repository: MemoryRepository
    gate: MemoryRequestGate

    async def tokenize(self, card: CardInput, request: RequestIdentity) -> Reply:
        """TokenizeCard for MERCHANT."""
        return await self.vault.tokenize(TokenizeCard(MERCHANT, card), request, ENCODER)


def open_vault(active_key: str = "k_old", repository: MemoryRepository | None = None) -> Vault:
    """The card vault wired as core/app.py wires it, with in-memory adapters."""
    repository = repository or MemoryRepository()
    gate = MemoryRequestGate()
    executor = RequestExecutor(
        repository=repository,
        gate=gate,
        router=Router([MemoryChannel()], timeout_s=1.0),
        settings=ExecutorSettings(),
    )
    vault = CardVault(
        executor=executor,
        repository=repository,
        gate=gate,
        keyring=Keyring(KEYS, active_key),
        fingerprint_key="test-fingerprint-key",
    )
    return Vault(vault, repository, gate)


def request_of(card: CardInput, request_id: str | None = None) -> RequestIdentity:
    """A TokenizeCard's identity: its request_id, and a fingerprint of what it asks."""
    return RequestIdentity(request_id or new_request_id(), repr(card.number).encode())


async def test_a_card_is_kept_masked_and_revealed_whole_only_to_pay() -> None:
    vault = open_vault()

    reply = await vault.tokenize(CARD, request_of(CARD))

    assert reply.ok
    token_id = reply.body.decode()
    token = await vault.vault.get_token(MERCHANT, token_id)
    assert (token.card.brand, token.card.last4, token.card.exp_year) == ("visa", "4242", EXP_YEAR)
    async with vault.repository.transaction() as tx:
        shown, card = await vault.vault.reveal(tx, MERCHANT, token_id)
    assert shown == token
    assert card == CardInput(VISA, 12, EXP_YEAR, cvc="", holder_name="Ada Lovelace")


async def test_a_repeated_request_id_replays_the_same_token_and_keeps_one_card() -> None:
    vault = open_vault()
    request = request_of(CARD)

    first = await vault.tokenize(CARD, request)
    again = await vault.tokenize(CARD, request)

    assert again == first
    assert len(vault.repository.state.card_tokens) == 1
    assert [admission for *_, admission in vault.gate.admitted] == [Admission.NEW, Admission.SEEN]


async def test_a_repeat_the_gate_forgot_is_replayed_from_the_stored_request() -> None:
    vault = open_vault()
    request = request_of(CARD)
    first = await vault.tokenize(CARD, request)

    vault.gate.forget()  # Redis flushed: only the repository's record guards the request_id
    again = await vault.tokenize(CARD, request)

    assert again == first
    assert len(vault.repository.state.card_tokens) == 1


@pytest.mark.parametrize("gate_remembers", [True, False])
async def test_a_request_id_reused_for_another_card_is_refused(gate_remembers: bool) -> None:
    vault = open_vault()
    request_id = new_request_id()
    await vault.tokenize(CARD, request_of(CARD, request_id))
    if not gate_remembers:
        vault.gate.forget()

    with pytest.raises(PaycoreError) as refused:
        await vault.tokenize(OTHER_CARD, request_of(OTHER_CARD, request_id))

    assert refused.value.reason is Reason.IDEMPOTENCY_KEY_REUSED
    assert len(vault.repository.state.card_tokens) == 1


async def test_a_token_of_another_merchant_is_not_found() -> None:
    vault = open_vault()
    token_id = (await vault.tokenize(CARD, request_of(CARD))).body.decode()

    with pytest.raises(NotFoundError) as unknown:
        await vault.vault.get_token("m_other", token_id)

    assert unknown.value.reason is Reason.CARD_TOKEN_NOT_FOUND


async def test_rotation_rewraps_every_card_under_the_active_key_in_batches() -> None:
    old = open_vault("k_old")
    tokens = [
        (await old.tokenize(card, request_of(card))).body.decode() for card in (CARD, OTHER_CARD)
    ]
    new = open_vault("k_new", old.repository)

    assert [await new.vault.rotate(batch_size=1) for _ in range(3)] == [1, 1, 0]

    stored = old.repository.state.card_tokens.values()
    assert {row.sealed.key_id for row in stored} == {"k_new"}
    async with new.repository.transaction() as tx:
        revealed = [(await new.vault.reveal(tx, MERCHANT, token))[1].number for token in tokens]
    assert revealed == [CARD.number, OTHER_CARD.number]
