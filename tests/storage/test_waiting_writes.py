"""Writes that wait for the transaction's next statement (core/storage/session.py).

Attempts and request records ride along with the next statement of their
transaction, or with one last statement before COMMIT: they must commit with
it, roll back with it, and be visible to every read that follows them in it.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from core.app import Services
from core.domain import ids
from core.domain.attempt import Attempt, AttemptOutcome, ChannelOperation, ChannelResult
from core.domain.payment import (
    Payment,
    PaymentState,
    RoutingRecord,
)
from core.ports.repository import ClaimStatus, RequestKey
from core.service.payment_changes import payment_change
from tests.support.payments import domain_payment


def _payment(merchant_id: str) -> Payment:
    at = datetime.now(UTC)
    return domain_payment(
        PaymentState.PENDING,
        id=ids.new_id(ids.PAYMENT),
        merchant_id=merchant_id,
        created_at=at,
        updated_at=at,
        channel="sandbox_card",
        routing=RoutingRecord(("sandbox_card",), ("rules: none",)),
    )


def _attempt(payment: Payment) -> Attempt:
    return Attempt(
        id=ids.new_id(ids.ATTEMPT),
        merchant_id=payment.merchant_id,
        payment_id=payment.id,
        operation=ChannelOperation.AUTHORIZE,
        channel=payment.channel,
        amount=payment.amount,
    )


def _key(merchant_id: str) -> RequestKey:
    return RequestKey(merchant_id, "CreatePayment", f"req_{uuid.uuid4().hex}")


async def test_waiting_writes_commit_with_the_transaction(
    services: Services, merchant_id: str
) -> None:
    payment, key = _payment(merchant_id), _key(merchant_id)
    attempt = _attempt(payment)
    now = datetime.now(UTC)
    async with services.repository.transaction() as tx:
        assert (await tx.requests.claim(key, b"fp", now, 60, 3600)).status is ClaimStatus.NEW
        await tx.payments.save(payment_change(None, payment))
        await tx.payments.record_routing(merchant_id, payment.id, payment.routing)  # type: ignore[arg-type]
        await tx.attempts.record(attempt, now)
        await tx.requests.set_resource(key, payment.id)

    stored = await services.repository.get_payment(merchant_id, payment.id)
    assert stored is not None and stored.routing == payment.routing
    assert [a.id for a in stored.attempts] == [attempt.id]
    record = await services.pool.fetchrow(
        "SELECT state, resource_id FROM idempotency_keys WHERE request_id = $1", key.request_id
    )
    assert (record["state"], record["resource_id"]) == ("in_progress", payment.id)


async def test_waiting_writes_roll_back_with_the_transaction(
    services: Services, merchant_id: str
) -> None:
    payment, key = _payment(merchant_id), _key(merchant_id)
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError):
        async with services.repository.transaction() as tx:
            await tx.requests.claim(key, b"fp", now, 60, 3600)
            await tx.payments.save(payment_change(None, payment))
            await tx.attempts.record(_attempt(payment), now)
            await tx.requests.complete(key, True, b"reply", payment.id, now)
            raise RuntimeError("the request failed after its last write")

    assert await services.repository.get_payment(merchant_id, payment.id) is None
    assert await services.repository.find_request(key) is None
    assert not await services.pool.fetchval(
        "SELECT count(*) FROM channel_attempts WHERE payment_id = $1", payment.id
    )


async def test_a_read_after_a_waiting_write_sees_it(services: Services, merchant_id: str) -> None:
    payment = _payment(merchant_id)
    attempt = _attempt(payment)
    now = datetime.now(UTC)
    async with services.repository.transaction() as tx:
        await tx.payments.save(payment_change(None, payment))
        await tx.attempts.record(attempt, now)
        locked = await tx.payments.lock(merchant_id, payment.id)
        assert locked is not None
        assert [(a.id, a.outcome) for a in locked.attempts] == [(attempt.id, "started")]
        # Two writes of one table never share a statement: the second waits
        # for the first, and the read after both sees the last.
        await tx.attempts.complete(
            merchant_id, attempt.id, ChannelResult(AttemptOutcome.SUCCEEDED, "ch_1"), now
        )
        relocked = await tx.payments.lock(merchant_id, payment.id)
        assert relocked is not None
        assert [(a.outcome, a.channel_reference) for a in relocked.attempts] == [
            ("succeeded", "ch_1")
        ]
        saved = dataclasses.replace(relocked, description="saved")
        await tx.payments.save(payment_change(relocked, saved))

    stored = await services.repository.get_payment(merchant_id, payment.id)
    assert stored is not None and stored.description == "saved"
    assert stored.routing == payment.routing  # a save keeps the stored routing


async def test_saving_a_payment_that_is_not_there_fails(
    services: Services, merchant_id: str
) -> None:
    payment = _payment(merchant_id)
    with pytest.raises(LookupError):
        async with services.repository.transaction() as tx:
            await tx.payments.save(payment_change(None, payment))
            ghost = dataclasses.replace(payment, id=ids.new_id(ids.PAYMENT))
            await tx.payments.save(payment_change(ghost, ghost))
