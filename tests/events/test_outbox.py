"""The transactional outbox: events commit with their change, numbered without gaps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from core.app import Services
from core.domain import ids
from core.domain.money import Money
from core.domain.payment import CaptureMethod, ConfirmationMethod, Payment, PaymentState
from core.service.payment_changes import payment_change
from paycore.v1 import event_service_pb2 as ev
from tests.events.helpers import pay

from .test_stream import read


class RollbackError(Exception):
    """Raised inside a transaction to roll it back."""


def new_payment(merchant_id: str) -> Payment:
    now = datetime.now(UTC)
    return Payment(
        id=ids.new_id(ids.PAYMENT),
        merchant_id=merchant_id,
        state=PaymentState.REQUIRES_CONFIRMATION,
        amount=Money(500, "EUR"),
        amount_captured=Money(0, "EUR"),
        amount_refunded=Money(0, "EUR"),
        capture_method=CaptureMethod.AUTOMATIC,
        confirmation_method=ConfirmationMethod.MANUAL,
        card=None,
        created_at=now,
        updated_at=now,
    )


async def event_rows(services: Services, merchant_id: str) -> list[tuple[int, str, str]]:
    rows = await services.pool.fetch(
        "SELECT sequence, type, resource_id FROM events WHERE merchant_id = $1 ORDER BY sequence",
        merchant_id,
    )
    return [(r["sequence"], r["type"], r["resource_id"]) for r in rows]


async def test_an_event_exists_only_if_its_change_committed(
    services: Services, merchant_id: str
) -> None:
    rolled_back = new_payment(merchant_id)
    with pytest.raises(RollbackError):
        async with services.repository.transaction() as tx:
            await tx.payments.save(payment_change(None, rolled_back))
            raise RollbackError

    committed = new_payment(merchant_id)
    async with services.repository.transaction() as tx:
        await tx.payments.save(payment_change(None, committed))

    # The rolled-back transaction left neither payment nor event, nor a hole
    # in the numbering: its sequence number went back.
    assert await event_rows(services, merchant_id) == [(1, "payment.created", committed.id)]


async def test_events_are_immutable(services: Services, merchant_id: str) -> None:
    async with services.repository.transaction() as tx:
        await tx.payments.save(payment_change(None, new_payment(merchant_id)))
    for statement in ("UPDATE events SET type = 'x'", "DELETE FROM events"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await services.pool.execute(f"{statement} WHERE merchant_id = $1", merchant_id)


async def test_concurrent_changes_get_gap_free_numbers_a_live_reader_never_skips(
    stub, event_stub, metadata, services: Services, merchant_id: str
) -> None:
    # A reader streaming while 15 payments commit concurrently must see every
    # number in order: a later-committing lower number would be skipped for good.
    call = event_stub.StreamEvents(ev.StreamEventsRequest(), metadata=metadata)
    reading = asyncio.ensure_future(read(call, 30))
    created = await asyncio.gather(*(pay(stub, metadata) for _ in range(15)))
    streamed = await reading
    call.cancel()

    assert [e.sequence for e in streamed] == list(range(1, 31))
    assert {e.payment.id for e in streamed} == {r.payment.id for r in created}
    rows = await event_rows(services, merchant_id)
    assert [r[0] for r in rows] == list(range(1, 31))
    # Per resource, events are in the order the changes happened.
    for payment_id in {r.payment.id for r in created}:
        types = [t for _, t, resource in rows if resource == payment_id]
        assert types == ["payment.created", "payment.succeeded"]
