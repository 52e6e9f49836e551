"""After tokenizing and paying, no full card number or CVC is in the database or the logs."""

from __future__ import annotations

import json
import logging
import re
import secrets

import asyncpg
import pytest

from core.service.card_vault import record_aad
from core.vault.envelope import Sealed, open_sealed
from core.vault.keyring import DEV_KEK
from paycore.v1 import payment_pb2 as pb
from tests.support.api import Api, VaultApi
from tests.support.requests import by_token, card, distinctive_pan, request_for, usd

S = pb.Payment


async def _merchant_tables(db: asyncpg.Pool) -> list[str]:
    rows = await db.fetch(
        """
        SELECT table_name FROM information_schema.columns
        WHERE table_schema = 'public' AND column_name = 'merchant_id' ORDER BY table_name
        """
    )
    return [row["table_name"] for row in rows]


async def _dump(db: asyncpg.Pool, merchant_id: str) -> tuple[str, list[bytes]]:
    """Every row of every merchant-scoped table: as JSON text, and every bytea value raw.

    bytea values are left out of the text: rendered as hex they are long runs
    of digits where a random 4-digit CVC turns up by chance (event snapshots,
    stored replies); they are searched as the bytes they are instead.
    """
    texts: list[str] = []
    raw: list[bytes] = []
    for table in await _merchant_tables(db):
        for row in await db.fetch(f"SELECT * FROM {table} WHERE merchant_id = $1", merchant_id):
            raw += [value for value in row.values() if isinstance(value, bytes)]
            text = {key: value for key, value in row.items() if not isinstance(value, bytes)}
            texts.append(json.dumps(text, default=str))
    return "\n".join(texts), raw


async def test_no_full_card_number_or_cvc_is_stored_or_logged(
    vault: VaultApi, api: Api, db: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokenized, confirmed, raw_card = distinctive_pan(), distinctive_pan(), distinctive_pan()
    cvc = f"{secrets.randbelow(9000) + 1000}"

    token = await vault.tokenize(tokenized, cvc=cvc)
    paid = await api.create(
        payment_method=by_token(token.id), capture_method=pb.CAPTURE_METHOD_MANUAL
    )
    await api.capture(paid.id)
    await api.refund(paid.id, usd(1))
    second = await vault.tokenize(confirmed, cvc=cvc)
    waiting = await api.requires_confirmation()
    request = request_for("ConfirmPayment", waiting.id, payment_method=by_token(second.id))
    assert (await api.call("ConfirmPayment", request)).payment.state == S.STATE_CAPTURED
    # A raw card, still accepted on CreatePayment, is not kept either.
    assert (await api.create(payment_method=card(raw_card, cvc=cvc))).state == S.STATE_CAPTURED

    tables = await _merchant_tables(db)
    assert {"payments", "refunds", "channel_attempts", "idempotency_keys", "card_tokens"} <= set(
        tables
    )
    text, raw = await _dump(db, vault.merchant_id)
    assert tokenized[-4:] in text  # the dump does hold the masked cards
    for pan in (tokenized, confirmed, raw_card):
        assert pan not in text
        assert not any(pan.encode() in value for value in raw)
    # A 4-digit CVC can occur inside any hex digest by chance: look for it
    # standing alone, as a stored CVC would.
    alone = re.compile(rf"(?<![0-9a-fA-F]){cvc}(?![0-9a-fA-F])")
    assert not alone.search(text)
    assert not any(alone.search(value.decode("latin-1")) for value in raw)
    logged = caplog.text + "\n".join(str(record.args) for record in caplog.records)
    for pan in (tokenized, confirmed, raw_card):
        assert pan not in logged


async def test_the_sealed_card_holds_no_cvc(vault: VaultApi, db: asyncpg.Pool) -> None:
    token = await vault.tokenize(distinctive_pan(), cvc="987")
    row = await db.fetchrow(
        "SELECT key_id, wrapped_dek, dek_nonce, nonce, ciphertext FROM card_tokens"
        " WHERE merchant_id = $1 AND id = $2",
        vault.merchant_id,
        token.id,
    )
    assert row is not None
    sealed = Sealed(**{name: row[name] for name in row.keys()})  # noqa: SIM118

    stored = json.loads(open_sealed(sealed, DEV_KEK, record_aad(vault.merchant_id, token.id)))

    assert set(stored) == {"number", "exp_month", "exp_year", "holder_name"}
