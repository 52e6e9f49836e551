"""CardVault: store cards under a token, show them masked, reveal them only to pay.

A full card number crosses the API once, in TokenizeCard. It is sealed with
``core.vault.envelope`` (a fresh data key per card, wrapped by the active KEK)
before it reaches storage, and comes back out of storage only through
``reveal``, which the payment service calls right before a channel call; the
number then lives in memory for that call alone. The CVC is never stored: a
payment by token carries none.
"""

from __future__ import annotations

import json
from datetime import datetime

from core.domain import ids
from core.domain.cards import summarize
from core.domain.commands import CardInput, TokenizeCard
from core.domain.errors import NotFoundError, Reason
from core.gate import RequestGate, RpcClass
from core.ports.repository import PaymentRepository, PaymentTransaction, RequestKey
from core.ports.telemetry import NO_INSTRUMENTS, Instruments
from core.service.customers import check_customer_reference
from core.service.execution import (
    Encoder,
    Plan,
    Reply,
    RequestExecutor,
    RequestIdentity,
    annotate_resource,
)
from core.vault.envelope import Sealed, open_sealed, rewrap, seal
from core.vault.keyring import Keyring
from core.vault.records import CardToken, StoredCard


def record_aad(merchant_id: str, token_id: str) -> bytes:
    """Associated data of a card's ciphertext: it opens only in its own row."""
    return json.dumps(["paycore.vault.card/v1", merchant_id, token_id]).encode()


def _card_plaintext(card: CardInput) -> bytes:
    # Deliberately not the CVC: what is sealed is what may be kept.
    return json.dumps(
        {
            "number": card.number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "holder_name": card.holder_name,
        },
        separators=(",", ":"),
    ).encode()


def _card_from_plaintext(plaintext: bytes) -> CardInput:
    data = json.loads(plaintext)
    return CardInput(
        number=data["number"],
        exp_month=data["exp_month"],
        exp_year=data["exp_year"],
        holder_name=data["holder_name"],
    )


class CardVault:
    """Tokenize, read, reveal (for a payment) and rotate stored cards."""

    def __init__(
        self,
        *,
        executor: RequestExecutor,
        repository: PaymentRepository,
        gate: RequestGate,
        keyring: Keyring,
        fingerprint_key: str,
        telemetry: Instruments | None = None,
    ) -> None:
        self._executor = executor
        self._repo = repository
        self._gate = gate
        self._keyring = keyring
        self._fingerprint_key = fingerprint_key
        self._telemetry = telemetry or NO_INSTRUMENTS

    async def tokenize(
        self, command: TokenizeCard, request: RequestIdentity, encoder: Encoder[CardToken]
    ) -> Reply:
        """Seal and store a card; idempotent by request_id like every mutating RPC.

        Its ``customer_id`` is checked as a payment's is (a customer id names a
        live customer, free text is the merchant's) and kept with the token.
        """

        async def plan(tx: PaymentTransaction, at: datetime) -> Plan[CardToken]:
            await check_customer_reference(tx, command.merchant_id, command.customer_id)
            token = await self.keep(
                tx, command.merchant_id, command.card, at, customer_id=command.customer_id
            )
            return Plan(token.id, result=token)

        key = RequestKey(command.merchant_id, "TokenizeCard", request.request_id)
        return await self._executor.execute(key, request, encoder, plan)

    async def keep(
        self,
        tx: PaymentTransaction,
        merchant_id: str,
        card: CardInput,
        at: datetime,
        *,
        customer_id: str = "",
    ) -> CardToken:
        """Seal and store ``card`` inside ``tx`` (tokenize, or a payment held for review).

        ``customer_id``: whom the token belongs to, already checked ("": no one).
        """
        token_id = ids.new_id(ids.TOKEN)
        keyring = self._keyring
        sealed = seal(
            _card_plaintext(card),
            keyring.active_id,
            keyring.active_kek,
            record_aad(merchant_id, token_id),
        )
        summary = summarize(card, self._fingerprint_key)
        token = CardToken(token_id, merchant_id, summary, at, customer_id)
        await tx.card_tokens.insert(StoredCard(token, sealed))
        return token

    async def get_token(self, merchant_id: str, token_id: str) -> CardToken:
        """One token of the merchant, masked; NOT_FOUND for unknown and other merchants' tokens."""
        annotate_resource(token_id)
        with self._telemetry.stage("gate"):
            await self._gate.admit(merchant_id, RpcClass.READS, None)
        return (await self._stored(merchant_id, token_id)).token

    async def find(self, merchant_id: str, token_id: str) -> StoredCard | None:
        """A token's sealed row, read before any transaction (None: unknown to the merchant).

        Read on a pooled connection of its own, in one statement with the
        concurrent requests' reads: the caller must hold no pooled connection
        (a payment reads it before its transaction; see ``reveal``). Nothing
        is decrypted here.
        """
        return await self._repo.get_card_token(merchant_id, token_id)

    async def reveal(
        self,
        tx: PaymentTransaction,
        merchant_id: str,
        token_id: str,
        stored: StoredCard | None = None,
    ) -> tuple[CardToken, CardInput]:
        """The token and its full card, to pay with: keep the card in memory for one call only.

        ``stored``: the token's row as ``find`` read it before the transaction
        (rows are never deleted, and a rotation re-wraps only the data key, so
        it still opens). Without it the row is read in the request's
        transaction ``tx``, on its connection: a second pooled connection taken
        while ``tx`` holds one deadlocks the pool once as many token payments
        run at once as it has connections (issue 16).
        NOT_FOUND (CARD_TOKEN_NOT_FOUND) for unknown and other merchants'
        tokens. A row that does not open (tampered, or its key not configured)
        is a server fault and raises EnvelopeError / UnknownKeyError.
        """
        if stored is None:
            stored = _found(await tx.card_tokens.find(merchant_id, token_id), token_id)
        sealed = stored.sealed
        plaintext = open_sealed(
            sealed, self._keyring.kek(sealed.key_id), record_aad(merchant_id, token_id)
        )
        return stored.token, _card_from_plaintext(plaintext)

    async def rotate(self, batch_size: int = 500) -> int:
        """Re-wrap one batch of cards not under the active key; returns how many (0: done).

        Only the data keys are re-encrypted; card numbers are never decrypted.
        Each batch commits on its own, so an interrupted rotation resumes where
        it stopped. A card under a key that is no longer configured stops the
        rotation with UnknownKeyError: configure that key again to move it.
        """
        keyring = self._keyring

        def to_active(sealed: Sealed) -> Sealed:
            return rewrap(sealed, keyring.kek(sealed.key_id), keyring.active_id, keyring.active_kek)

        return await self._repo.rewrap_card_tokens(keyring.active_id, batch_size, to_active)

    async def _stored(self, merchant_id: str, token_id: str) -> StoredCard:
        return _found(await self._repo.get_card_token(merchant_id, token_id), token_id)


def _found(stored: StoredCard | None, token_id: str) -> StoredCard:
    """The vault row read for ``token_id``; NOT_FOUND when there is none."""
    if stored is None:
        raise NotFoundError(Reason.CARD_TOKEN_NOT_FOUND, token_id=token_id)
    return stored
