"""The card vault's rows in PostgreSQL (asyncpg): sealed cards under their tokens.

Inside a request's transaction the rows are read and written on the
transaction's own connection (``PostgresCardTokens``): a payment
by token reads its card there, never on a second pooled connection, which
would deadlock a busy pool (core/storage/pool.py).

Outside a transaction (a payment by token before its gate, GetCardToken)
``CardTokenReads`` reads on the pool, and concurrent reads share one
statement: the (merchant, token) pairs asked in one turn of the event loop are
looked up together with ``unnest``; rows found are remembered for a while.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import asyncpg

from core.batching import Batcher, BatchFailedError
from core.domain.payment import CardSummary
from core.vault.envelope import Sealed
from core.vault.records import CardToken, StoredCard

_CARD_TOKEN_COLUMNS = """
    merchant_id, id, brand, bin, last4, exp_month, exp_year, fingerprint,
    key_id, wrapped_dek, dek_nonce, nonce, ciphertext, create_time, customer_id
"""


def _sealed_from_row(row: asyncpg.Record) -> Sealed:
    return Sealed(
        key_id=row["key_id"],
        wrapped_dek=bytes(row["wrapped_dek"]),
        dek_nonce=bytes(row["dek_nonce"]),
        nonce=bytes(row["nonce"]),
        ciphertext=bytes(row["ciphertext"]),
    )


def _stored_card_from_row(row: asyncpg.Record) -> StoredCard:
    token = CardToken(
        id=row["id"],
        merchant_id=row["merchant_id"],
        card=CardSummary(
            brand=row["brand"],
            bin=row["bin"],
            last4=row["last4"],
            exp_month=row["exp_month"],
            exp_year=row["exp_year"],
            fingerprint=row["fingerprint"],
        ),
        created_at=row["create_time"],
        customer_id=row["customer_id"],
    )
    return StoredCard(token, _sealed_from_row(row))


class PostgresCardTokens:
    """The vault rows of one transaction (``uow.card_tokens``): on its own connection."""

    __slots__ = ("_c",)

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._c = connection

    async def insert(self, stored: StoredCard) -> None:
        """Store a new vault row (the card vault's tokenize)."""
        token, card, sealed = stored.token, stored.token.card, stored.sealed
        await self._c.execute(
            f"""
            INSERT INTO card_tokens ({_CARD_TOKEN_COLUMNS})
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            """,
            token.merchant_id,
            token.id,
            card.brand,
            card.bin,
            card.last4,
            card.exp_month,
            card.exp_year,
            card.fingerprint,
            sealed.key_id,
            sealed.wrapped_dek,
            sealed.dek_nonce,
            sealed.nonce,
            sealed.ciphertext,
            token.created_at,
            token.customer_id,
        )

    async def find(self, merchant_id: str, token_id: str) -> StoredCard | None:
        """One vault row of one merchant (None for unknown tokens and other merchants')."""
        row = await self._c.fetchrow(
            f"SELECT {_CARD_TOKEN_COLUMNS} FROM card_tokens WHERE merchant_id = $1 AND id = $2",
            merchant_id,
            token_id,
        )
        return None if row is None else _stored_card_from_row(row)


_FIND_MANY = f"""
    SELECT {_CARD_TOKEN_COLUMNS} FROM card_tokens
    WHERE (merchant_id, id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""

TokenKey = tuple[str, str]
"""(merchant_id, token_id)."""


async def find_card_tokens(
    pool: asyncpg.Pool, keys: Sequence[TokenKey]
) -> dict[TokenKey, StoredCard]:
    """The vault rows of ``keys`` that exist, in one statement (on a connection of its own)."""
    rows = await pool.fetch(_FIND_MANY, [k[0] for k in keys], [k[1] for k in keys])
    return {(row["merchant_id"], row["id"]): _stored_card_from_row(row) for row in rows}


class CardTokenReads:
    """Reads vault rows on the pool; the reads of one event-loop turn share one statement.

    The batching is ``Batcher``'s (core/batching.py): the first read of
    a turn schedules the statement after the callbacks already ready (the other
    requests about to ask), so an idle server waits for nothing. Each statement
    takes a pooled connection for itself only: callers must hold none while
    they wait (core/storage/pool.py). A failed statement raises its own error
    to every caller of its batch, as a read of its own would have.

    Rows found are remembered for ``remember_s``: a row is never deleted and
    never changes but for a rotation re-wrapping its data key, after which the
    remembered row still opens under its old key as long as that key is
    configured (removing a key from the configuration restarts the process).
    What is remembered is sealed: no card number is ever held in the clear.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        remember_s: float = 60.0,
        max_remembered: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._batcher: Batcher[TokenKey, StoredCard | None] = Batcher(self._read)
        self._remembered: dict[TokenKey, tuple[float, StoredCard]] = {}
        self._remember_s = remember_s
        self._max_remembered = max_remembered
        self._monotonic = monotonic

    @property
    def statements(self) -> int:
        """Statements sent (for benchmarks and tests)."""
        return self._batcher.batches

    async def find(self, merchant_id: str, token_id: str) -> StoredCard | None:
        """One vault row of one merchant (None for unknown tokens and other merchants')."""
        key = (merchant_id, token_id)
        remembered = self._remembered.get(key)
        if remembered is not None:
            if self._monotonic() < remembered[0]:
                return remembered[1]
            del self._remembered[key]
        try:
            return await self._batcher.submit(key)
        except BatchFailedError as failed:
            # A read changes nothing: its caller maps the statement's own error
            # (PostgreSQL "not now" -> UNAVAILABLE...), not "not known to commit".
            if failed.cause is None:
                raise asyncio.CancelledError from failed
            raise failed.cause from None

    async def _read(self, keys: list[TokenKey]) -> list[StoredCard | None]:
        found = await find_card_tokens(self._pool, list(dict.fromkeys(keys)))
        until = self._monotonic() + self._remember_s
        for key, stored in found.items():
            if len(self._remembered) >= self._max_remembered:
                del self._remembered[next(iter(self._remembered))]  # the oldest
            self._remembered[key] = (until, stored)
        return [found.get(key) for key in keys]


async def rewrap_card_tokens(
    connection: asyncpg.Connection,
    active_key_id: str,
    batch_size: int,
    rewrap: Callable[[Sealed], Sealed],
) -> int:
    """Re-wrap up to ``batch_size`` rows not under ``active_key_id``, inside the caller's
    transaction; returns how many."""
    # SKIP LOCKED: several rotations at once share the work instead of
    # queueing on the same rows; a row is rewrapped and committed once.
    rows = await connection.fetch(
        """
        SELECT merchant_id, id, key_id, wrapped_dek, dek_nonce, nonce, ciphertext
        FROM card_tokens WHERE key_id <> $1
        LIMIT $2 FOR UPDATE SKIP LOCKED
        """,
        active_key_id,
        batch_size,
    )
    updates = []
    for row in rows:
        sealed = rewrap(_sealed_from_row(row))
        updates.append(
            (row["merchant_id"], row["id"], sealed.key_id, sealed.wrapped_dek, sealed.dek_nonce)
        )
    if updates:
        await connection.executemany(
            """
            UPDATE card_tokens SET key_id = $3, wrapped_dek = $4, dek_nonce = $5
            WHERE merchant_id = $1 AND id = $2
            """,
            updates,
        )
    return len(updates)
