"""Card tokens read outside a transaction: one statement for the reads of a loop turn (issue 18).

A payment by token reads its token's row before its gate, on the pool (it holds
no connection then), so that it is planned for group commit like one by card;
the token reads of concurrent payments share one SELECT, and rows found are
remembered for a while (core/storage/card_tokens.py).
"""

from __future__ import annotations

import asyncio

from core.app import Services
from core.storage.card_tokens import CardTokenReads
from paycore.v1 import payment_pb2 as pb
from tests.support.api import Api, VaultApi
from tests.support.requests import by_token, distinctive_pan


async def test_concurrent_reads_share_one_statement_and_keep_merchants_apart(
    services: Services, vault: VaultApi, other_vault: VaultApi
) -> None:
    mine = [await vault.tokenize(distinctive_pan()) for _ in range(3)]
    theirs = await other_vault.tokenize(distinctive_pan())
    reads = CardTokenReads(services.pool)
    asked = [(vault.merchant_id, token.id) for token in mine] + [
        (vault.merchant_id, theirs.id),  # another merchant's token: not found
        (vault.merchant_id, "tok_" + "0" * 26),  # unknown
        (other_vault.merchant_id, theirs.id),
        (vault.merchant_id, mine[0].id),  # the same token twice
    ]

    found = await asyncio.gather(*(reads.find(merchant, token) for merchant, token in asked))

    assert reads.statements == 1
    assert [None if f is None else (f.token.merchant_id, f.token.id) for f in found] == [
        (vault.merchant_id, mine[0].id),
        (vault.merchant_id, mine[1].id),
        (vault.merchant_id, mine[2].id),
        None,
        None,
        (other_vault.merchant_id, theirs.id),
        (vault.merchant_id, mine[0].id),
    ]
    assert found[0] is not None
    assert found[0].token.card.last4 == mine[0].card.last4
    assert found[0].sealed.ciphertext  # the sealed card, to reveal


async def test_a_row_found_is_remembered_for_a_while_an_unknown_one_is_not(
    services: Services, vault: VaultApi
) -> None:
    token = await vault.tokenize(distinctive_pan())
    unknown = "tok_" + "0" * 26
    now = [0.0]
    reads = CardTokenReads(services.pool, remember_s=60.0, monotonic=lambda: now[0])

    first = await reads.find(vault.merchant_id, token.id)
    again = await reads.find(vault.merchant_id, token.id)
    assert first is not None and again is first
    assert reads.statements == 1
    assert await reads.find(vault.merchant_id, unknown) is None
    assert await reads.find(vault.merchant_id, unknown) is None
    assert reads.statements == 3  # not found: asked each time
    now[0] = 60.0
    later = await reads.find(vault.merchant_id, token.id)
    assert later is not None and later is not first
    assert reads.statements == 4


async def test_payments_by_token_are_group_committed(
    services: Services, vault: VaultApi, api: Api
) -> None:
    tokens = [await vault.tokenize(distinctive_pan()) for _ in range(4)]
    await api.create(payment_method=by_token(tokens[0].id))  # warm: the merchant's risk lists
    writer = services.executor.claim_writer
    assert writer is not None
    claims_before = writer.claims

    payments = await asyncio.gather(
        *(api.create(payment_method=by_token(token.id)) for token in tokens)
    )

    assert [p.state for p in payments] == [pb.Payment.STATE_CAPTURED] * 4
    assert [p.payment_method.card for p in payments] == [t.card for t in tokens]
    # Each payment's first transaction went in a group commit (other tests may
    # add theirs meanwhile: at least ours).
    assert writer.claims - claims_before >= 4
