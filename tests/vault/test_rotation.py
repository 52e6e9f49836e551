"""Key rotation: cards sealed under one key move to the next, and stay payable."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import pytest

from core import cli
from core.config import Settings
from core.service.card_vault import CardVault
from core.storage.migrate import migrate
from core.vault.keyring import UnknownKeyError
from paycore.v1 import card_vault_service_pb2_grpc, payment_service_pb2_grpc
from paycore.v1 import payment_pb2 as pb
from tests.conftest import _create_database, _drop_database
from tests.support.api import Api, VaultApi
from tests.support.auth import merchant_metadata
from tests.support.requests import by_token, distinctive_pan
from tests.support.serving import serve_paycore

K1 = "k1:" + base64.b64encode(os.urandom(32)).decode()
K2 = "k2:" + base64.b64encode(os.urandom(32)).decode()
CAPTURED = pb.Payment.STATE_CAPTURED


@pytest.fixture
async def own_database(_embedded: tuple[str, str], settings: Settings) -> AsyncIterator[Settings]:
    """Settings on a fresh database: rotation rewraps the cards of every merchant."""
    name, dsn = await _create_database(_embedded[0])
    await migrate(dsn)
    try:
        yield settings.replace(postgres_dsn=dsn)
    finally:
        await _drop_database(_embedded[0], name)


@dataclass(frozen=True)
class Running:
    """One merchant's clients of a running server, and that server's vault."""

    vault: VaultApi
    api: Api
    card_vault: CardVault


@asynccontextmanager
async def running(settings: Settings, merchant_id: str) -> AsyncIterator[Running]:
    """A paycore server with its own services (and so its own keyring), and clients on it."""
    async with serve_paycore(settings) as paycore:
        metadata = await merchant_metadata(paycore.services.pool, merchant_id)
        yield Running(
            VaultApi(
                paycore.stub(card_vault_service_pb2_grpc.CardVaultServiceStub),
                merchant_id,
                metadata,
            ),
            Api(paycore.stub(payment_service_pb2_grpc.PaymentServiceStub), merchant_id, metadata),
            paycore.services.vault,
        )


async def _key_ids(dsn: str | None) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        return [r["key_id"] for r in await connection.fetch("SELECT key_id FROM card_tokens")]
    finally:
        await connection.close()


async def test_rotation_moves_cards_to_the_active_key_and_they_stay_payable(
    own_database: Settings, merchant_id: str
) -> None:
    under_k1 = own_database.replace(vault_keys=(K1,), vault_active_key_id="k1")
    k2_active = own_database.replace(vault_keys=(K1, K2), vault_active_key_id="k2")
    only_k2 = own_database.replace(vault_keys=(K2,), vault_active_key_id="k2")

    async with running(under_k1, merchant_id) as first:
        tokens = [await first.vault.tokenize(distinctive_pan()) for _ in range(5)]
    assert await _key_ids(own_database.postgres_dsn) == ["k1"] * 5

    async with running(k2_active, merchant_id) as second:
        fresh = await second.vault.tokenize(distinctive_pan())
        old_still_pays = await second.api.create(payment_method=by_token(tokens[0].id))
        moved = 0
        while batch := await second.card_vault.rotate(batch_size=2):
            moved += batch
        paid = await second.api.create(payment_method=by_token(fresh.id))
    assert (old_still_pays.state, paid.state, moved) == (CAPTURED, CAPTURED, 5)
    assert await _key_ids(own_database.postgres_dsn) == ["k2"] * 6

    # k1 is retired: every card still pays, and shows as it did.
    async with running(only_k2, merchant_id) as third:
        for token in tokens:
            payment = await third.api.create(payment_method=by_token(token.id))
            assert payment.state == CAPTURED
            assert payment.payment_method.card == token.card
            assert await third.vault.get(token.id) == token


async def test_rotation_stops_on_a_card_whose_key_is_not_configured(
    own_database: Settings, merchant_id: str
) -> None:
    async with running(
        own_database.replace(vault_keys=(K1,), vault_active_key_id="k1"), merchant_id
    ) as first:
        await first.vault.tokenize(distinctive_pan())

    async with running(
        own_database.replace(vault_keys=(K2,), vault_active_key_id="k2"), merchant_id
    ) as second:
        with pytest.raises(UnknownKeyError, match="k1"):
            await second.card_vault.rotate()
    assert await _key_ids(own_database.postgres_dsn) == ["k1"]


async def test_paycore_vault_rotate_moves_every_card_and_prints_the_count(
    own_database: Settings,
    merchant_id: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running(
        own_database.replace(vault_keys=(K1,), vault_active_key_id="k1"), merchant_id
    ) as first:
        token = await first.vault.tokenize(distinctive_pan())
    assert own_database.postgres_dsn and own_database.redis_url
    for name, value in {
        "PAYCORE_POSTGRES_DSN": own_database.postgres_dsn,
        "PAYCORE_REDIS_URL": own_database.redis_url,
        "PAYCORE_VAULT_KEYS": f"{K1},{K2}",
        "PAYCORE_VAULT_ACTIVE_KEY_ID": "k2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cli, "configure_logging", lambda settings: None)  # keep pytest's logging

    code = await asyncio.to_thread(cli.main, ["vault", "rotate"])

    assert code == 0
    assert "rewrapped 1 cards under vault key k2" in capsys.readouterr().out
    assert await _key_ids(own_database.postgres_dsn) == ["k2"]
    only_k2 = own_database.replace(vault_keys=(K2,), vault_active_key_id="k2")
    async with running(only_k2, merchant_id) as after:
        paid = await after.api.create(payment_method=by_token(token.id))
    assert paid.state == CAPTURED
