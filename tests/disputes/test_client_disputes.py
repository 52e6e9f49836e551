"""The Python client's dispute calls against a real paycore (PostgreSQL, Redis, the ingress)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paycore.client import AsyncPaycoreClient, NotFoundError
from paycore.v1 import dispute_pb2 as dpb
from paycore.v1 import dispute_service_pb2 as dsvc
from tests.disputes.conftest import DisputeStack
from tests.support.requests import usd

D = dpb.Dispute


@pytest.fixture
def client(stack: DisputeStack) -> AsyncPaycoreClient:
    """The async client as the stack's merchant, on the stack's channel."""
    api_key = dict(stack.metadata)["authorization"].removeprefix("Bearer ")
    return AsyncPaycoreClient(stack.served.target, api_key=api_key, channel=stack.channel)


async def test_the_client_reads_answers_and_accepts_disputes(
    stack: DisputeStack, client: AsyncPaycoreClient
) -> None:
    answered = await stack.served.api.captured(amount=usd(10))
    accepted = await stack.served.api.captured(amount=usd(11))
    for payment in (answered, accepted):
        assert await stack.notify(payment) == (200, "[accepted]")
    listed = [d async for d in client.iter_disputes(page_size=1)]
    assert [d.payment_id for d in listed] == [accepted.id, answered.id]
    first, second = listed[1], listed[0]

    evidence = dsvc.Evidence(uncategorized_text="delivered")
    reviewed = await client.submit_evidence(first.id, evidence, request_id="ev-1")
    assert reviewed.state == D.STATE_UNDER_REVIEW
    assert await client.submit_evidence(first.id, evidence, request_id="ev-1") == reviewed
    lost = await client.accept_dispute(second.id)
    assert lost.state == D.STATE_LOST
    assert await client.get_dispute(second.id) == lost
    page = await client.list_disputes(states=[D.STATE_LOST])
    assert [d.id for d in page.disputes] == [second.id]
    with pytest.raises(NotFoundError):
        await client.get_dispute("dp_01JD0Z8W7X6V5T4S3R2Q1P0N9M")


async def test_the_client_reads_the_dispute_rate_and_refuses_a_naive_window(
    stack: DisputeStack, client: AsyncPaycoreClient
) -> None:
    payment = await stack.served.api.captured(amount=usd(10))
    assert await stack.notify(payment) == (200, "[accepted]")
    now = datetime.now(UTC)

    rate = await client.get_dispute_rate(now - timedelta(hours=1), now + timedelta(hours=1))

    assert (rate.captured_payments, rate.disputes, rate.rate_basis_points) == (1, 1, 10_000)
    with pytest.raises(ValueError, match="timezone-aware"):
        await client.get_dispute_rate(datetime(2026, 1, 1), now)
